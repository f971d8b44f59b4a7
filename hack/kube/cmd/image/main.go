// Command image makes an OCI image whose only file is one static binary, run
// as the image's entrypoint, and pushes it to a registry:
//
//	image -bin .cache/kube/bin/pause -ref 127.0.0.1:5000/pause:3.10
//
// Registries on loopback are spoken to over plain HTTP (name.Insecure).
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	bin := flag.String("bin", "", "static binary to put in the image (required)")
	ref := flag.String("ref", "", "where to push, e.g. 127.0.0.1:5000/name:tag (required)")
	as := flag.String("path", "", "path of the binary inside the image (default /BASENAME)")
	flag.Parse()
	if *bin == "" || *ref == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *as == "" {
		*as = "/" + filepath.Base(*bin)
	}
	digest, err := build(*bin, *as, *ref)
	if err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%s@%s\n", *ref, digest)
}

func build(bin, as, ref string) (v1.Hash, error) {
	dst, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return v1.Hash{}, err
	}
	layer, err := binaryLayer(bin, as)
	if err != nil {
		return v1.Hash{}, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{CreatedBy: "hack/kube image " + filepath.Base(bin)},
	})
	if err != nil {
		return v1.Hash{}, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS = "linux"
	cfg.Architecture = runtime.GOARCH
	cfg.Config.Entrypoint = []string{as}
	cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Write(dst, img); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", ref, err)
	}
	return img.Digest()
}

// binaryLayer is a single tar layer holding the file bin at path as (mode
// 0755), with its parent directories.
func binaryLayer(bin, as string) (v1.Layer, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// A fixed time keeps the layer, and so the image digest, reproducible.
	mtime := time.Unix(0, 0)
	clean := path.Clean("/" + as)[1:]
	var dirs []string
	for dir := path.Dir(clean); dir != "."; dir = path.Dir(dir) {
		dirs = append([]string{dir}, dirs...)
	}
	for _, dir := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: mtime}); err != nil {
			return nil, err
		}
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: clean, Mode: 0o755, Size: int64(len(data)), ModTime: mtime}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
