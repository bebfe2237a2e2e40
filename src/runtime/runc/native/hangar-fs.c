// hangar-fs: file operations on a machine's root filesystem, running or stopped, as the machine's
// own root and never with the host's eyes. Built like hangar-ns (src/runtime/runc/native.ts).
//
//   hangar-fs USERNS_FILE ROOTFS OP ARGS…      (fd 3: one JSON status line, see report())
//
// Why this shape: the robot is root in its machine and may swap any path component for a
// symlink while we work, so no machine path is ever resolved on the host. Before touching a
// path this process opens ROOTFS (the machine's overlay, seen through an idmapped mount),
// joins the machine's user namespace (setns) and becomes its root (setuid 0 there = host uid
// BASE: its capabilities cover only files mapped into that namespace), chroot()s into ROOTFS,
// closes every other descriptor and installs a seccomp filter. From then on an absolute
// symlink resolves inside the machine, `..` stops at its root, and the chroot cannot be left:
// chroot() itself is refused by the filter, and no code of the machine's is ever loaded (the
// filter refuses executable mappings, so a static binary's dlopen of an NSS module named by the
// machine's /etc/nsswitch.conf fails; sockets are refused too, as this process sits in the
// host's network namespace). Tar runs the host's static busybox, opened before the chroot and
// started with execveat(AT_EMPTY_PATH): never one of the machine's binaries.
//
// OPs (paths are absolute inside the machine; output on stdout):
//   read PATH                          the bytes
//   write PATH MODE|- PARENTS(0|1)     stdin to a temp file beside PATH, fsync, rename
//   mkdir PATH MODE|- PARENTS(0|1)
//   list PATH RECURSIVE(0|1) MAX       JSON lines, one per entry (bytes ≥ 0x80 as \u00XX)
//   delete PATH RECURSIVE(0|1)         JSON lines, one per path deleted
//   rename FROM TO
//   copy FROM TO RECURSIVE(0|1) PRESERVE(0|1)
//   chmod PATH MODE RECURSIVE(0|1)
//   chown PATH UID GID RECURSIVE(0|1)  -1 leaves an id as it is
//   tar-c DIR   /   tar-x DIR          busybox tar, to stdout / from stdin
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STATUS_FD 3
#define MAX_DEPTH 256

static const char *op_name = "";

static void put_json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
    // Every byte outside printable ASCII as \u00XX: names are bytes, not always UTF-8, and the
    // reader rebuilds them exactly (files.ts decodes the string as latin1, then as UTF-8).
    else if (*p < 0x20 || *p >= 0x7f) fprintf(f, "\\u%04x", *p);
    else fputc(*p, f);
  }
  fputc('"', f);
}

// One JSON line on the status descriptor: {"ok":true,…} or {"errno":"ENOENT","path":…}.
static void report(const char *json) {
  dprintf(STATUS_FD, "%s\n", json);
}

static void fail(int err, const char *path, const char *what) {
  FILE *f = fdopen(dup(STATUS_FD), "w");
  if (f) {
    fprintf(f, "{\"errno\":\"%s\",\"op\":\"%s\",\"step\":\"%s\",\"path\":", strerrorname_np(err) ? strerrorname_np(err) : "EIO", op_name, what);
    put_json_string(f, path ? path : "");
    fprintf(f, ",\"message\":");
    put_json_string(f, strerror(err));
    fputs("}\n", f);
    fclose(f);
  }
  exit(1);
}

static void die(const char *what) {
  fprintf(stderr, "hangar-fs: %s: %s\n", what, strerror(errno));
  exit(2);
}

// Refused with EPERM from here on: leaving the chroot or the namespaces, loading code, the network.
static void install_filter(void) {
#if defined(__x86_64__)
  const unsigned arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  const unsigned arch = AUDIT_ARCH_AARCH64;
#else
#error "hangar-fs: add this architecture's AUDIT_ARCH"
#endif
#define NR(n) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_##n, 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)
#define LOAD(field) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
  struct sock_filter prog[] = {
    LOAD(arch),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    LOAD(nr),
#if defined(__x86_64__)
    // x32 numbers alias the native ones: refuse the whole ABI.
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
#endif
    NR(chroot), NR(pivot_root), NR(mount), NR(umount2), NR(setns), NR(unshare), NR(ptrace),
    NR(process_vm_readv), NR(process_vm_writev), NR(socket), NR(socketpair), NR(bpf), NR(keyctl),
    NR(open_by_handle_at), NR(fsopen), NR(fsmount), NR(open_tree), NR(move_mount), NR(mount_setattr),
    NR(io_uring_setup), NR(userfaultfd), NR(perf_event_open), NR(memfd_create),
    // clone3's flags are out of the filter's sight; clone with namespace flags is refused below.
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4),
    LOAD(args[0]),
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    // mmap, mprotect, pkey_mprotect: no executable mapping (the kernel maps a static binary itself).
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 2, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 1, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pkey_mprotect, 0, 3),
    LOAD(args[2]),
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
#undef NR
#undef LOAD
  struct sock_fprog fprog = {.len = sizeof prog / sizeof prog[0], .filter = prog};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) die("no_new_privs");
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog)) die("seccomp");
}

// The walls, in order; see the top of the file. Returns with cwd and root at the machine's /.
static void enter(const char *userns_file, const char *rootfs, int keep_fd) {
  int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) die(rootfs);
  // The overlay must be mounted there: an empty mount point is a host directory, not the machine.
  struct stat self, parent;
  if (fstat(root, &self) || fstatat(root, "..", &parent, 0)) die(rootfs);
  if (self.st_dev == parent.st_dev) {
    fprintf(stderr, "hangar-fs: the machine's filesystem is not mounted at %s\n", rootfs);
    exit(2);
  }
  int userns = open(userns_file, O_RDONLY | O_CLOEXEC);
  if (userns < 0) die(userns_file);
  if (setns(userns, CLONE_NEWUSER)) die("setns(user namespace)");
  close(userns);
  if (setgroups(0, NULL) || setresgid(0, 0, 0) || setresuid(0, 0, 0)) die("become the machine's root");
  if (fchdir(root) || chroot(".") || chdir("/")) die("chroot");
  close(root);
  // Nothing of the host stays reachable: only stdio, the status line and (tar) busybox.
  for (int fd = 3; fd < 1024; fd++)
    if (fd != STATUS_FD && fd != keep_fd) close(fd);
  // The status line is ours: busybox, once started, must not inherit it.
  if (fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC)) die("status descriptor");
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) die("dumpable");
  umask(0);
  install_filter();
}

static mode_t parse_mode(const char *s, mode_t fallback) {
  if (strcmp(s, "-") == 0) return fallback;
  return (mode_t)strtoul(s, NULL, 8) & 07777;
}

static void mkdir_parents(char *path) {
  // path is a copy we may cut at each '/'.
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(path, 0755) && errno != EEXIST) fail(errno, path, "mkdir");
    *p = '/';
  }
}

static void parent_of(const char *path, char *out, size_t n) {
  snprintf(out, n, "%s", path);
  char *slash = strrchr(out, '/');
  if (slash == out) out[1] = 0;
  else if (slash) *slash = 0;
}

static int op_read(const char *path) {
  // Non-blocking: a FIFO the robot left at PATH must not hang us.
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) fail(errno, path, "open");
  struct stat st;
  if (fstat(fd, &st)) fail(errno, path, "stat");
  if (S_ISDIR(st.st_mode)) fail(EISDIR, path, "open");
  if (!S_ISREG(st.st_mode)) fail(EINVAL, path, "not a regular file");
  fcntl(fd, F_SETFL, 0);
  dprintf(STATUS_FD, "{\"ok\":true,\"size\":%lld,\"mode\":%u}\n", (long long)st.st_size, st.st_mode & 07777);
  static char buf[1 << 16];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("read");
    if (n == 0) return 0;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(1, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return 3; // the reader went away
      off += w;
    }
  }
}

static int op_write(const char *path, const char *mode_s, int parents) {
  char dir[4096], tmp[4200];
  if (parents) {
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    mkdir_parents(copy);
  }
  struct stat old;
  int had = lstat(path, &old) == 0;
  if (had && S_ISDIR(old.st_mode)) fail(EISDIR, path, "open");
  mode_t mode = parse_mode(mode_s, had && S_ISREG(old.st_mode) ? old.st_mode & 07777 : 0644);
  parent_of(path, dir, sizeof dir);
  int fd = -1;
  for (int i = 0; i < 100 && fd < 0; i++) {
    snprintf(tmp, sizeof tmp, "%s/.hangar-write-%d-%d", strcmp(dir, "/") ? dir : "", getpid(), i);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) fail(errno, path, "create");
  }
  if (fd < 0) fail(EEXIST, path, "create");
  static char buf[1 << 16];
  long long size = 0;
  for (;;) {
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("read stdin");
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        int e = errno;
        unlink(tmp);
        fail(e, path, "write");
      }
      off += w;
    }
    size += n;
  }
  // A replaced file keeps its owner, as an in-place write would.
  if (had && S_ISREG(old.st_mode) && fchown(fd, old.st_uid, old.st_gid)) (void)0;
  if (fchmod(fd, mode) || fsync(fd) || close(fd) || rename(tmp, path)) {
    int e = errno;
    unlink(tmp);
    fail(e, path, "write");
  }
  dprintf(STATUS_FD, "{\"ok\":true,\"size\":%lld,\"mode\":%u}\n", size, mode);
  return 0;
}

static int op_mkdir(const char *path, const char *mode_s, int parents) {
  mode_t mode = parse_mode(mode_s, 0755);
  if (parents) {
    char copy[4096];
    snprintf(copy, sizeof copy, "%s/", path);
    mkdir_parents(copy);
    struct stat st;
    if (stat(path, &st)) fail(errno, path, "mkdir");
    if (!S_ISDIR(st.st_mode)) fail(ENOTDIR, path, "mkdir");
  } else if (mkdir(path, mode)) fail(errno, path, "mkdir");
  if (chmod(path, mode)) fail(errno, path, "chmod");
  dprintf(STATUS_FD, "{\"ok\":true,\"size\":0,\"mode\":%u}\n", mode);
  return 0;
}

static const char *type_of(mode_t m) {
  return S_ISREG(m) ? "file" : S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "symlink" : "other";
}

static long listed, list_max;

static void print_entry(int dirfd, const char *name, const char *path, const struct stat *st) {
  printf("{\"name\":");
  put_json_string(stdout, name);
  printf(",\"path\":");
  put_json_string(stdout, path);
  printf(",\"type\":\"%s\",\"size\":%lld,\"mode\":%u,\"uid\":%u,\"gid\":%u,\"mtime\":%lld.%09ld", type_of(st->st_mode), (long long)st->st_size, st->st_mode & 07777,
         st->st_uid, st->st_gid, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
  if (S_ISLNK(st->st_mode)) {
    char target[4096];
    ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
    if (n >= 0) {
      target[n] = 0;
      printf(",\"target\":");
      put_json_string(stdout, target);
    }
  }
  printf("}\n");
}

static void join_path(char *out, size_t n, const char *dir, const char *name) {
  snprintf(out, n, "%s/%s", strcmp(dir, "/") ? dir : "", name);
}

// Opens name under at as a directory, never through a symlink; *fd is its descriptor.
static DIR *open_dir_at(int at, const char *name, const char *path, int *fd) {
  *fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (*fd < 0) fail(errno, path, "opendir");
  DIR *d = fdopendir(*fd);
  if (!d) fail(errno, path, "opendir");
  return d;
}

// The next entry of d other than . and .., or NULL at the end.
static const char *next_entry(DIR *d) {
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) return e->d_name;
  return NULL;
}

// Lists dirfd's entries (never following a symlink), depth-first when recursive, up to list_max.
static int list_dir(int dirfd, const char *path, int recursive, int depth) {
  DIR *d = fdopendir(dirfd);
  if (!d) fail(errno, path, "opendir");
  for (const char *name; (name = next_entry(d));) {
    if (listed >= list_max) {
      closedir(d);
      return 1;
    }
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) continue; // gone meanwhile
    char child[4096];
    join_path(child, sizeof child, path, name);
    print_entry(dirfd, name, child, &st);
    listed++;
    if (recursive && S_ISDIR(st.st_mode) && depth < MAX_DEPTH) {
      int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0 && list_dir(fd, child, recursive, depth + 1)) {
        closedir(d);
        return 1;
      }
    }
  }
  closedir(d);
  return 0;
}

static int op_list(const char *path, int recursive, long max) {
  list_max = max;
  // A symlink to a directory lists the directory (as `ls link/` does); any other path lists as itself.
  struct stat st;
  if (stat(path, &st) || !S_ISDIR(st.st_mode))
    if (lstat(path, &st)) fail(errno, path, "stat");
  int truncated = 0;
  if (S_ISDIR(st.st_mode)) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail(errno, path, "opendir");
    truncated = list_dir(fd, path, recursive, 0);
  } else {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    parent_of(path, dir, sizeof dir);
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    print_entry(dirfd, slash ? slash + 1 : path, path, &st);
  }
  fflush(stdout);
  dprintf(STATUS_FD, "{\"ok\":true,\"isDir\":%s,\"truncated\":%s}\n", S_ISDIR(st.st_mode) ? "true" : "false", truncated ? "true" : "false");
  return 0;
}

// Removes name under dirfd, depth-first, never following a symlink; prints each path removed.
static void remove_at(int dirfd, const char *name, const char *path, int depth) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) fail(errno, path, "stat");
  if (S_ISDIR(st.st_mode)) {
    if (depth > MAX_DEPTH) fail(ELOOP, path, "too deep");
    int fd;
    DIR *d = open_dir_at(dirfd, name, path, &fd);
    for (const char *n; (n = next_entry(d));) {
      char child[4096];
      join_path(child, sizeof child, path, n);
      remove_at(fd, n, child, depth + 1);
    }
    closedir(d);
    if (unlinkat(dirfd, name, AT_REMOVEDIR)) fail(errno, path, "rmdir");
  } else if (unlinkat(dirfd, name, 0)) fail(errno, path, "unlink");
  put_json_string(stdout, path);
  putchar('\n');
}

static int op_delete(const char *path, int recursive) {
  struct stat st;
  if (lstat(path, &st)) fail(errno, path, "stat");
  if (S_ISDIR(st.st_mode) && !recursive) {
    if (rmdir(path)) fail(errno, path, "rmdir");
    put_json_string(stdout, path);
    putchar('\n');
  } else {
    char dir[4096];
    parent_of(path, dir, sizeof dir);
    int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) fail(errno, dir, "open");
    const char *slash = strrchr(path, '/');
    remove_at(dirfd, slash ? slash + 1 : path, path, 0);
  }
  fflush(stdout);
  report("{\"ok\":true}");
  return 0;
}

static void copy_file(int sfd, const char *to, const struct stat *st, int preserve) {
  int dfd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (dfd < 0) fail(errno, to, "create");
  static char buf[1 << 16];
  for (;;) {
    ssize_t n = read(sfd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(errno, to, "read");
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(dfd, buf + off, (size_t)(n - off));
      if (w < 0 && errno != EINTR) fail(errno, to, "write");
      if (w > 0) off += w;
    }
  }
  if (preserve && fchown(dfd, st->st_uid, st->st_gid)) fail(errno, to, "chown");
  if (fchmod(dfd, st->st_mode & 07777)) fail(errno, to, "chmod");
  if (preserve) {
    struct timespec times[2] = {st->st_atim, st->st_mtim};
    futimens(dfd, times);
  }
  if (close(dfd)) fail(errno, to, "write");
}

static void copy_at(int sdir, const char *name, const char *from, const char *to, int recursive, int preserve, int depth) {
  struct stat st;
  if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW)) fail(errno, from, "stat");
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    ssize_t n = readlinkat(sdir, name, target, sizeof target - 1);
    if (n < 0) fail(errno, from, "readlink");
    target[n] = 0;
    if (symlink(target, to)) fail(errno, to, "symlink");
    if (preserve) lchown(to, st.st_uid, st.st_gid);
  } else if (S_ISDIR(st.st_mode)) {
    if (!recursive) fail(EISDIR, from, "copy a directory needs recursive");
    if (depth > MAX_DEPTH) fail(ELOOP, from, "too deep");
    if (mkdir(to, 0700)) fail(errno, to, "mkdir");
    int fd;
    DIR *d = open_dir_at(sdir, name, from, &fd);
    for (const char *n; (n = next_entry(d));) {
      char cf[4096], ct[4096];
      join_path(cf, sizeof cf, from, n);
      join_path(ct, sizeof ct, to, n);
      copy_at(fd, n, cf, ct, recursive, preserve, depth + 1);
    }
    closedir(d);
    if (preserve && chown(to, st.st_uid, st.st_gid)) fail(errno, to, "chown");
    if (chmod(to, st.st_mode & 07777)) fail(errno, to, "chmod");
  } else if (S_ISREG(st.st_mode)) {
    int sfd = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (sfd < 0) fail(errno, from, "open");
    copy_file(sfd, to, &st, preserve);
    close(sfd);
  } else fail(EINVAL, from, "not a regular file, directory or symlink");
}

static int op_copy(const char *from, const char *to, int recursive, int preserve) {
  struct stat st;
  if (lstat(to, &st) == 0) fail(EEXIST, to, "copy");
  char dir[4096];
  parent_of(from, dir, sizeof dir);
  int sdir = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (sdir < 0) fail(errno, dir, "open");
  const char *slash = strrchr(from, '/');
  copy_at(sdir, slash ? slash + 1 : from, from, to, recursive, preserve, 0);
  report("{\"ok\":true}");
  return 0;
}

// top: the path the caller named, whose symlink (as chmod(1) and chown(1) do) is followed.
typedef int (*apply_fn)(int dirfd, const char *name, const struct stat *st, int top, void *arg);

// Applies fn to path and, when recursive, to everything under it (symlinks are not followed).
static void apply_at(int dirfd, const char *name, const char *path, int recursive, apply_fn fn, void *arg, int depth) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) fail(errno, path, "stat");
  if (fn(dirfd, name, &st, depth == 0, arg)) fail(errno, path, op_name);
  if (!recursive || !S_ISDIR(st.st_mode) || depth > MAX_DEPTH) return;
  int fd;
  DIR *d = open_dir_at(dirfd, name, path, &fd);
  for (const char *n; (n = next_entry(d));) {
    char child[4096];
    join_path(child, sizeof child, path, n);
    apply_at(fd, n, child, recursive, fn, arg, depth + 1);
  }
  closedir(d);
}

static int do_chmod(int dirfd, const char *name, const struct stat *st, int top, void *arg) {
  // A symlink has no mode of its own: below the named path one is skipped, not followed.
  return S_ISLNK(st->st_mode) && !top ? 0 : fchmodat(dirfd, name, *(mode_t *)arg, 0);
}

static int do_chown(int dirfd, const char *name, const struct stat *st, int top, void *arg) {
  (void)st;
  uid_t *ids = arg;
  return fchownat(dirfd, name, ids[0], ids[1], top ? 0 : AT_SYMLINK_NOFOLLOW);
}

static int op_apply(const char *path, int recursive, apply_fn fn, void *arg) {
  char dir[4096];
  parent_of(path, dir, sizeof dir);
  int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) fail(errno, dir, "open");
  const char *slash = strrchr(path, '/');
  // The machine's root itself: "/" has no parent entry to name it by.
  apply_at(dirfd, strcmp(path, "/") ? (slash ? slash + 1 : path) : ".", path, recursive, fn, arg, 0);
  report("{\"ok\":true}");
  return 0;
}

static int op_tar(const char *dir, int create, int busybox) {
  struct stat st;
  if (stat(dir, &st)) fail(errno, dir, "stat");
  if (!S_ISDIR(st.st_mode)) fail(ENOTDIR, dir, "chdir");
  if (chdir(dir)) fail(errno, dir, "chdir");
  report("{\"ok\":true}");
  char *create_argv[] = {"busybox", "tar", "-c", "-f", "-", ".", NULL};
  // --numeric-owner: ids as stored in the archive, no name lookup in the machine's /etc.
  char *extract_argv[] = {"busybox", "tar", "-x", "-f", "-", "--numeric-owner", NULL};
  char *envp[] = {"PATH=/nonexistent", NULL};
  syscall(SYS_execveat, busybox, "", create ? create_argv : extract_argv, envp, AT_EMPTY_PATH);
  die("execveat busybox");
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: hangar-fs USERNS_FILE ROOTFS OP ARGS… (see the source)\n");
    return 2;
  }
  op_name = argv[3];
  const char *op = argv[3];
  char **a = argv + 4;
  int n = argc - 4;
  int tar = !strcmp(op, "tar-c") || !strcmp(op, "tar-x");
  int busybox = -1;
  if (tar) {
    busybox = open("/bin/busybox", O_PATH | O_CLOEXEC);
    if (busybox < 0) die("/bin/busybox (Debian package busybox-static)");
  }
  enter(argv[1], argv[2], busybox);
  if (!strcmp(op, "read") && n == 1) return op_read(a[0]);
  if (!strcmp(op, "write") && n == 3) return op_write(a[0], a[1], atoi(a[2]));
  if (!strcmp(op, "mkdir") && n == 3) return op_mkdir(a[0], a[1], atoi(a[2]));
  if (!strcmp(op, "list") && n == 3) return op_list(a[0], atoi(a[1]), atol(a[2]));
  if (!strcmp(op, "delete") && n == 2) return op_delete(a[0], atoi(a[1]));
  if (!strcmp(op, "rename") && n == 2) {
    if (rename(a[0], a[1])) fail(errno, a[0], "rename");
    report("{\"ok\":true}");
    return 0;
  }
  if (!strcmp(op, "copy") && n == 4) return op_copy(a[0], a[1], atoi(a[2]), atoi(a[3]));
  if (!strcmp(op, "chmod") && n == 3) {
    mode_t mode = parse_mode(a[1], 0644);
    return op_apply(a[0], atoi(a[2]), do_chmod, &mode);
  }
  if (!strcmp(op, "chown") && n == 4) {
    uid_t ids[2] = {(uid_t)strtol(a[1], NULL, 10), (gid_t)strtol(a[2], NULL, 10)};
    return op_apply(a[0], atoi(a[3]), do_chown, ids);
  }
  if (tar && n == 1) return op_tar(a[0], !strcmp(op, "tar-c"), busybox);
  fprintf(stderr, "hangar-fs: bad arguments for %s\n", op);
  return 2;
}
