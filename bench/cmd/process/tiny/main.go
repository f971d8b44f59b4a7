// Command tiny is bench/process.sh's baseline worker: the plain way to map a
// trivial function over numbers in parallel processes, with no store, no
// journal and no retries. It doubles the integers given after the output
// directory and writes them, one a line, to a file of that directory named
// by the first of them; xargs runs it on batches, and the script concatenates
// the files in order.
//
//	seq 0 99999 | xargs -P 8 -n 500 tiny OUTDIR
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: tiny OUTDIR N...")
		os.Exit(2)
	}
	f, err := os.Create(filepath.Join(os.Args[1], os.Args[2]))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w := bufio.NewWriter(f)
	for _, a := range os.Args[2:] {
		x, err := strconv.Atoi(a)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		w.WriteString(strconv.Itoa(2*x) + "\n")
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
