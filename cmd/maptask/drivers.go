package main

// The store drivers the command links beyond file:// and mem://: s3:// (and
// S3-compatible servers), for --store and $MAPTASK_STORE, in the driver and in
// the workers it starts (the command is its own worker).
import _ "github.com/maptask/maptask/store/s3"
