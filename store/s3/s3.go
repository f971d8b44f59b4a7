// Package s3 links the S3 driver into a program, so that a store URL of the
// form s3://bucket?... opens Amazon S3 or any S3-compatible server (MinIO,
// versitygw, Ceph: endpoint=http://host:port&use_path_style=true). Import it
// for its side effect, in the program's main package:
//
//	import _ "github.com/maptask/maptask/store/s3"
//
// It is a package of its own because the driver is heavy: it links the AWS
// SDK, about 14 MB of binary and a hundred packages, into every program that
// imports it, and a map that keeps its store in a local directory needs none
// of it. Without it, opening an s3:// store is an error naming this import.
// The maptask command links it.
//
// The URL and its parameters are those of gocloud.dev/blob/s3blob; credentials
// come from the AWS SDK's usual sources (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, a shared config file, an instance role). A program
// that runs as a remote worker (through maptask.Init) is the same program as
// its driver, so it has the driver too.
package s3

import _ "gocloud.dev/blob/s3blob" // registers s3:// with gocloud.dev/blob's default URL mux
