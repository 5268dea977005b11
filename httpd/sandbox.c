/*
 * sandbox.c: what a server process gives up once it has loaded its
 * configuration, its TLS keys and its listening sockets
 * (docs/privsep.md): root (it becomes User, with no supplementary groups:
 * not in the docker group), the file system (chroot to DocumentRoot,
 * which it reads through a descriptor opened before), and a few system
 * calls it never needs (a seccomp filter: no new socket, no exec, no
 * ptrace, no mount).  The Docker socket and Redis are then out of reach
 * three times over: no permission, no path, no socket to connect.
 *
 * Without openat2(2) (kernels before 5.6, valgrind) there is no chroot:
 * static.c then checks paths through /proc.  Sanitizer builds keep /proc
 * and ptrace (LeakSanitizer needs both) and so skip the chroot and that
 * part of the filter; the rest is the same.
 */
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <linux/audit.h>
#include <linux/openat2.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANDBOX_SANITIZER	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER	1
#endif
#endif
#ifndef SANDBOX_SANITIZER
#define SANDBOX_SANITIZER	0
#endif

#if defined(__x86_64__)
#define SANDBOX_ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH	AUDIT_ARCH_AARCH64
#endif

#define DENY(nr)							\
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),		\
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))

static int
sandbox_seccomp(char *err, size_t errlen)
{
#ifdef SANDBOX_ARCH
	struct sock_filter all[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
#ifdef __X32_SYSCALL_BIT
		/* x32 calls share the arch: their numbers carry this bit. */
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
#endif
		/* io_uring would make sockets where seccomp cannot see. */
		DENY(__NR_io_uring_setup),
		DENY(__NR_io_uring_enter),
		DENY(__NR_io_uring_register),
		DENY(__NR_socket),
		DENY(__NR_socketpair),
		DENY(__NR_connect),
		DENY(__NR_bind),
		DENY(__NR_mount),
		DENY(__NR_umount2),
		DENY(__NR_chroot),
		DENY(__NR_setns),
		DENY(__NR_unshare),
		DENY(__NR_process_vm_writev),
#if !SANDBOX_SANITIZER
		DENY(__NR_execve),
		DENY(__NR_execveat),
		DENY(__NR_ptrace),
#endif
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
	};
	struct sock_fprog prog = { sizeof(all) / sizeof(all[0]), all };

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == -1) {
		snprintf(err, errlen, "seccomp: %s", strerror(errno));
		return -1;
	}
	return 0;
#else
	snprintf(err, errlen, "seccomp: no filter for this architecture");
	return -1;
#endif
}

/*
 * Does openat2(2) work here?  static.c contains paths with it; without it
 * it checks the file it opened through /proc/self/fd, which a chroot
 * takes away.
 */
static int
sandbox_openat2(void)
{
	struct open_how how;
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH;
	fd = (int)syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how));
	if (fd == -1)
		return errno != ENOSYS;
	close(fd);
	return 1;
}

int
sandbox_enter(const char *user, const char *root, char *err, size_t errlen)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;
	char why[200] = "";

	pid_t ppid = getppid();

	/* Time zone and the like, while the files are still there. */
	tzset();
	if (geteuid() != 0) {
		log_warn("server process: not started as root, so it keeps uid "
		    "%d: privilege separation needs root to drop privileges",
		    (int)geteuid());
	} else {
		if ((pw = getpwnam(user)) == NULL) {
			snprintf(err, errlen, "User %s: no such user (make "
			    "it: useradd --system --no-create-home --shell "
			    "/usr/sbin/nologin %s)", user, user);
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		if (uid == 0) {
			snprintf(err, errlen, "User %s is root: privilege "
			    "separation needs an unprivileged user", user);
			return -1;
		}
		if (!SANDBOX_SANITIZER && !sandbox_openat2()) {
			log_warn("server process: no openat2(2) (a kernel before "
			    "5.6, or valgrind): no chroot, since static files "
			    "are then checked through /proc");
		} else if (!SANDBOX_SANITIZER && (chroot(root) == -1 ||
		    chdir("/") == -1)) {
			snprintf(err, errlen, "chroot %s: %s", root,
			    strerror(errno));
			return -1;
		}
		if (setgroups(0, NULL) == -1 || setresgid(gid, gid, gid) == -1 ||
		    setresuid(uid, uid, uid) == -1) {
			snprintf(err, errlen, "cannot become %s: %s", user,
			    strerror(errno));
			return -1;
		}
		if (setuid(0) == 0) {
			snprintf(err, errlen, "could become root again");
			return -1;
		}
		/* A change of credentials clears the parent-death signal. */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != ppid) {
			snprintf(err, errlen, "the engine process has gone");
			return -1;
		}
		if (SANDBOX_SANITIZER)
			(void)prctl(PR_SET_DUMPABLE, 1);	/* LSan */
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    sandbox_seccomp(why, sizeof(why)) == -1)
		log_warn("server process: %s: running without the system "
		    "call filter", why[0] ? why : strerror(errno));
	return 0;
}
