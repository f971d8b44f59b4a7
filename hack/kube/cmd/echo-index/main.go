// Command echo-index is the tiny workload of hack/kube's smoke check: it
// prints the Indexed Job completion index it was given and exits 0.
package main

import (
	"fmt"
	"os"
)

func main() {
	host, _ := os.Hostname()
	fmt.Printf("index=%s host=%s\n", os.Getenv("JOB_COMPLETION_INDEX"), host)
}
