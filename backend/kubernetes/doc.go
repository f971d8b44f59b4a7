// Package kubernetes runs maps as Kubernetes Indexed Jobs (see Backend): each
// index of a Job is a pod running a batch of elements, retried by Kubernetes
// itself, with the engine's verdict.
//
// # Pod security
//
// Pods meet the "restricted" Pod Security Standard by default, so maps run in
// namespaces labelled pod-security.kubernetes.io/enforce=restricted:
//
//   - they run as a numeric non-root user and group (JobOptions.RunAsUser and
//     RunAsGroup, default DefaultUser, 65532), with runAsNonRoot and the
//     RuntimeDefault seccomp profile;
//   - every container (the worker, and the init container that copies the
//     worker into a task's own image) drops all capabilities, cannot gain
//     privileges and has a read-only root filesystem; an emptyDir at
//     ScratchDir (/tmp, also TMPDIR) is where tasks write scratch files;
//   - no service account token is mounted: workers talk only to the store.
//
// The worker images ImageBuilder makes run as 65532:65532 too, and are always
// referenced by the digest computed where they are built: a tag someone else
// pushed first is refused, not used.
//
// # A file:// store
//
// Pods reach the store themselves: S3 (credentials from JobOptions.StoreSecret;
// the program, driver and workers alike, links the driver with import _
// "github.com/maptask/maptask/store/s3") or a directory. A file:// store needs:
//
//   - a directory every node sees at the same path as the driver: a shared
//     filesystem (NFS, Lustre, ...) mounted on every node, or any directory on
//     a one-node cluster;
//   - outside namespaces enforcing the "baseline" or "restricted" standard, it
//     is mounted into pods as a hostPath volume (as JobOptions.HostPaths are);
//   - in a namespace enforcing them, where hostPath volumes are refused, a
//     PersistentVolumeClaim (JobOptions.StoreClaim) bound to a volume showing
//     that directory (an NFS, hostPath or local PersistentVolume made by the
//     cluster's admin), mounted at the directory's path instead;
//   - the directory owned by the pods' user (RunAsUser:RunAsGroup, 65532 by
//     default): the store creates its files readable by their owner only. A
//     driver running as root on a directory owned by another user gives what
//     it creates to that user, so `chown 65532:65532 DIR` before the first map
//     is enough.
package kubernetes
