// This file builds the worker image: the running program, appended as one
// layer onto a small base image and pushed to a registry, content-addressed so
// that an unchanged program is pushed once (ko's approach, with
// go-containerregistry), and always referenced by the digest computed here.

package kubernetes

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ErrNotStatic is wrapped by Push's error when the program cannot run on an
// empty image for the nodes' platform (not ELF, another architecture, or
// dynamically linked).
var ErrNotStatic = errors.New("not a static Linux program for the nodes")

// WorkerPath is where the program lives inside the worker image.
const WorkerPath = "/maptask-worker"

// ImageBuilder turns a static Linux program into a worker image.
type ImageBuilder struct {
	// Repository receives the images, like "registry.example.com/team/maptask"
	// or "127.0.0.1:5000/maptask".
	Repository string
	// Base is the image the program is added to; nil means an empty image
	// (the program is the only file).
	Base v1.Image
	// Platform is the cluster nodes' platform; the zero value means linux/amd64.
	Platform v1.Platform
	// Insecure allows a plain-HTTP registry (a local one).
	Insecure bool
	// Options are passed to go-containerregistry's remote calls (credentials,
	// transport).
	Options []remote.Option
}

// Push makes sure an image running the program at path is in the repository
// and returns its reference by the digest computed here
// ("repo@sha256:..."), never by one a registry reports. The image is tagged
// by that digest: an unchanged program is found by a HEAD request and not
// pushed again. A tag that already names another image (pushed there by
// someone else) is an error naming the tag and both digests; it is neither
// used nor overwritten.
func (b *ImageBuilder) Push(ctx context.Context, path string) (string, error) {
	plat := b.Platform
	if plat.OS == "" {
		plat = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	program, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("maptask: worker image: %w", err)
	}
	if err := checkStatic(path, program, plat); err != nil {
		return "", err
	}
	base := b.Base
	if base == nil {
		base = empty.Image
	}
	baseDigest, err := base.Digest()
	if err != nil {
		return "", fmt.Errorf("maptask: worker image: base image: %w", err)
	}
	// Compressing the program is what costs: an image built once in this
	// process is not built again to learn its digest.
	key := fmt.Sprintf("%x\x00%s\x00%s/%s", sha256.Sum256(program), baseDigest, plat.OS, plat.Architecture)
	var img v1.Image
	build := func() (v1.Hash, error) {
		if img, err = b.image(base, program, plat); err != nil {
			return v1.Hash{}, err
		}
		d, err := img.Digest()
		if err != nil {
			return v1.Hash{}, fmt.Errorf("maptask: worker image: %w", err)
		}
		builtDigests.Store(key, d)
		return d, nil
	}
	var digest v1.Hash
	if d, ok := builtDigests.Load(key); ok {
		digest = d.(v1.Hash)
	} else if digest, err = build(); err != nil {
		return "", err
	}
	var nameOpts []name.Option
	if b.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	tag, err := name.NewTag(b.Repository+":w-"+digest.Hex[:24], nameOpts...)
	if err != nil {
		return "", fmt.Errorf("maptask: worker image repository %q: %w", b.Repository, err)
	}
	ref := tag.Context().Digest(digest.String()).String()
	opts := append([]remote.Option{remote.WithContext(ctx)}, b.Options...)
	if desc, err := remote.Head(tag, opts...); err == nil {
		if desc.Digest != digest {
			return "", fmt.Errorf("maptask: worker image tag %s names %s, not the image built here (%s): it was pushed by someone else; not using it", tag, desc.Digest, digest)
		}
		return ref, nil
	}
	if img == nil { // built earlier in this process, and not in this registry
		if _, err := build(); err != nil {
			return "", err
		}
	}
	if err := remote.Write(tag, img, opts...); err != nil {
		return "", fmt.Errorf("maptask: pushing the worker image to %s: %w", tag, err)
	}
	return ref, nil
}

// builtDigests holds the digest of each image this process built, by the
// sha256 of its program, its base's digest and its platform.
var builtDigests sync.Map

// imageUser is the user and group of the worker images: not root.
var imageUser = fmt.Sprintf("%d:%d", DefaultUser, DefaultUser)

// image appends the program as one layer (owned by root, readable and
// executable by everyone) and makes it the entrypoint, run as DefaultUser.
// The layer is compressed once (gzip's fastest level: barely bigger, several
// times faster than the default for a Go program), in memory, so that the
// digest computed here and the bytes pushed are the same.
func (b *ImageBuilder) image(base v1.Image, program []byte, plat v1.Platform) (v1.Image, error) {
	// One pass: the tar is hashed (the layer's diff id) as it is
	// compressed, and the compressed bytes are hashed (its digest) as they
	// are kept.
	var compressed bytes.Buffer
	digest, diffID := sha256.New(), sha256.New()
	gz, err := gzip.NewWriterLevel(io.MultiWriter(&compressed, digest), gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(io.MultiWriter(gz, diffID))
	hdr := &tar.Header{Name: WorkerPath[1:], Mode: 0o755, Size: int64(len(program)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(program); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	layer := &gzipLayer{data: compressed.Bytes(),
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(digest.Sum(nil))},
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diffID.Sum(nil))}}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = plat.OS, plat.Architecture
	cfg.Config.Entrypoint = []string{WorkerPath}
	cfg.Config.Cmd = nil
	cfg.Config.User = imageUser
	return mutate.ConfigFile(img, cfg)
}

// gzipLayer is a gzip-compressed tar layer held in memory, with both of its
// hashes known.
type gzipLayer struct {
	data           []byte
	digest, diffID v1.Hash
}

func (l *gzipLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *gzipLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *gzipLayer) Size() (int64, error)     { return int64(len(l.data)), nil }
func (l *gzipLayer) MediaType() (types.MediaType, error) {
	return types.DockerLayer, nil
}
func (l *gzipLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.data)), nil
}
func (l *gzipLayer) Uncompressed() (io.ReadCloser, error) {
	return gzip.NewReader(bytes.NewReader(l.data))
}

// checkStatic refuses a program the nodes could not run: not ELF, another
// architecture, or dynamically linked (it needs an interpreter and libraries
// the image does not have).
func checkStatic(path string, program []byte, plat v1.Platform) error {
	f, err := elf.NewFile(bytes.NewReader(program))
	if err != nil {
		return fmt.Errorf("maptask: %s is not a Linux program (ELF): build it for linux/%s, or name an image with maptask.Image: %w", path, plat.Architecture, ErrNotStatic)
	}
	defer f.Close()
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[plat.Architecture]
	if f.Machine != machine {
		return fmt.Errorf("maptask: %s is built for %v, the nodes are linux/%s: cross-build it (GOARCH=%s CGO_ENABLED=0), or name an image with maptask.Image: %w", path, f.Machine, plat.Architecture, plat.Architecture, ErrNotStatic)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("maptask: %s is dynamically linked: build it with CGO_ENABLED=0 so it runs on an empty image, or name an image with maptask.Image: %w", path, ErrNotStatic)
		}
	}
	return nil
}
