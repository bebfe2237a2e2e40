// hangar-ns: the few syscalls a machine's user namespace needs that no Debian 12 tool makes
// (util-linux 2.38 has no X-mount.idmap, and its unshare --map-users goes through newuidmap and
// /etc/subuid). Built by the runc driver with the host's cc; see src/runtime/runc/native.ts.
//
//   hangar-ns create BASE SIZE USERNS_FILE NETNS_FILE
//     A user namespace mapping ids 0..SIZE-1 to BASE.., and a network namespace owned by it,
//     each kept as an nsfs bind mount on the given (existing, empty) file, as `ip netns add`
//     keeps one. No process is left behind. The netns must belong to the machine's user
//     namespace: runc 1.1 joins the user namespace first and cannot enter a host-owned one.
//
//   hangar-ns mount BASE USERNS_FILE TARGET MACHINE_DIR DISK_DIR LOWER_TOP ... LOWER_BOTTOM
//     An overlay on TARGET whose layers (LOWERs, relative to MACHINE_DIR or absolute) and
//     DISK_DIR/upper, /work (the machine's disk) are seen through an idmapped mount, so files stay owned as in
//     the image (uid 0 based) on disk while the machine sees them as its own. The staging
//     mounts live in a private mount namespace and vanish with this process; only the overlay
//     appears on the host.
//
//   hangar-ns bind USERNS_FILE SOURCE TARGET
//     SOURCE (a volume's subvolume) mounted on TARGET through an idmapped mount into the user
//     namespace, in the host's mount namespace: files uid-0 based on disk appear as the machine's
//     root. runc 1.1 cannot idmap a bind mount itself, so the bundle bind-mounts TARGET.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "hangar-ns: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) die(path);
  close(fd);
}

static void bind_ns(pid_t pid, const char *kind, const char *file) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/%s", pid, kind);
  if (mount(path, file, NULL, MS_BIND, NULL)) die(file);
}

static int create(const char *base, const char *size, const char *userns_file, const char *netns_file) {
  int go[2], ready[2];
  if (pipe2(go, O_CLOEXEC) || pipe2(ready, O_CLOEXEC)) die("pipe");
  pid_t pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) die("clone(CLONE_NEWUSER)");
  if (pid == 0) {
    // Once mapped, make the netns from inside, so the new user namespace owns it.
    char c;
    if (read(go[0], &c, 1) != 1) _exit(1);
    if (unshare(CLONE_NEWNET)) _exit(2);
    if (write(ready[1], "x", 1) != 1) _exit(1);
    if (read(go[0], &c, 1) != 1) _exit(1);
    _exit(0);
  }
  char map[64], path[64];
  snprintf(map, sizeof map, "0 %s %s\n", base, size);
  snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
  write_file(path, map);
  snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
  write_file(path, map);
  char c;
  if (write(go[1], "x", 1) != 1 || read(ready[0], &c, 1) != 1) {
    errno = ECHILD;
    die("the namespace child failed");
  }
  bind_ns(pid, "user", userns_file);
  bind_ns(pid, "net", netns_file);
  if (write(go[1], "x", 1) != 1) die("release child");
  waitpid(pid, NULL, 0);
  return 0;
}

static void idmapped_bind(const char *src, const char *dst, int userns) {
  int fd = syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (fd < 0) die(src);
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (unsigned long long)userns};
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof attr)) die("mount_setattr(MOUNT_ATTR_IDMAP)");
  if (syscall(SYS_move_mount, fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH)) die("move_mount (staging)");
  close(fd);
}

static void set_option(int fs, const char *key, const char *value) {
  if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, key, value, 0)) {
    fprintf(stderr, "hangar-ns: overlay option %s=%s: %s\n", key, value, strerror(errno));
    exit(1);
  }
}

static int mount_overlay(const char *base_s, const char *userns_file, const char *target, const char *dir, const char *disk, int nlower, char **lowers) {
  uid_t base = (uid_t)strtoul(base_s, NULL, 10);
  int userns = open(userns_file, O_RDONLY | O_CLOEXEC);
  int host_mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  int target_fd = open(target, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (userns < 0) die(userns_file);
  if (host_mnt < 0 || target_fd < 0) die(target);
  if (chdir(dir)) die(dir);
  // A private mount namespace to stage in: nothing of it reaches the host's mount table.
  if (unshare(CLONE_NEWNS)) die("unshare(CLONE_NEWNS)");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("make / private");
  // Sources are opened before /run is covered, since their paths may lie under it.
  int *src = calloc((size_t)nlower + 1, sizeof *src);
  if (!src) die("calloc");
  for (int i = 0; i < nlower; i++) {
    src[i] = open(lowers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (src[i] < 0) die(lowers[i]);
  }
  src[nlower] = open(disk, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (src[nlower] < 0) die(disk);
  if (mount("hangar-stage", "/run", "tmpfs", 0, "size=64k,mode=700")) die("staging tmpfs");
  int fs = syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
  if (fs < 0) die("fsopen(overlay)");
  char from[64], to[64];
  for (int i = 0; i <= nlower; i++) {
    snprintf(from, sizeof from, "/proc/self/fd/%d", src[i]);
    snprintf(to, sizeof to, i < nlower ? "/run/%d" : "/run/m", i);
    if (mkdir(to, 0700)) die(to);
    idmapped_bind(from, to, userns);
    if (i < nlower) set_option(fs, "lowerdir+", to);
  }
  set_option(fs, "upperdir", "/run/m/upper");
  set_option(fs, "workdir", "/run/m/work");
  set_option(fs, "index", "off");
  // Overlay does its own work (the work dir, copy-up) with the creator's credentials, which
  // must map through the idmapped upper: create as the range's root, caps kept.
  if (setfsgid(base) < 0 || setfsuid(base) < 0) die("setfsuid");
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct caps[2];
  if (syscall(SYS_capget, &hdr, caps)) die("capget");
  caps[0].effective = caps[0].permitted;
  caps[1].effective = caps[1].permitted;
  if (syscall(SYS_capset, &hdr, caps)) die("capset");
  if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0)) {
    int saved = errno;
    char msg[512];
    ssize_t n;
    while ((n = read(fs, msg, sizeof msg - 1)) > 0) {
      msg[n] = 0;
      fprintf(stderr, "hangar-ns: %s\n", msg);
    }
    errno = saved;
    die("create overlay");
  }
  int mnt = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
  if (mnt < 0) die("fsmount");
  if (setns(host_mnt, CLONE_NEWNS)) die("setns(host mount namespace)");
  if (syscall(SYS_move_mount, mnt, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)) die("move_mount (target)");
  return 0;
}

static int bind_idmapped(const char *userns_file, const char *src, const char *dst) {
  int userns = open(userns_file, O_RDONLY | O_CLOEXEC);
  if (userns < 0) die(userns_file);
  idmapped_bind(src, dst, userns);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 6 && strcmp(argv[1], "create") == 0) return create(argv[2], argv[3], argv[4], argv[5]);
  if (argc == 5 && strcmp(argv[1], "bind") == 0) return bind_idmapped(argv[2], argv[3], argv[4]);
  if (argc >= 8 && strcmp(argv[1], "mount") == 0) return mount_overlay(argv[2], argv[3], argv[4], argv[5], argv[6], argc - 7, argv + 7);
  fprintf(stderr, "usage: hangar-ns create BASE SIZE USERNS_FILE NETNS_FILE\n"
                  "       hangar-ns mount BASE USERNS_FILE TARGET MACHINE_DIR DISK_DIR LOWER_TOP ... LOWER_BOTTOM\n"
                  "       hangar-ns bind USERNS_FILE SOURCE TARGET\n");
  return 2;
}
