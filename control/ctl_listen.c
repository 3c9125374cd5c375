/* ctl_listen.c - the control socket's file (ctl.h ctl_listen, ctl_unlisten): main
 * binds it before any thread starts, so the umask that makes it 0600 from birth
 * changes nobody else's files. A socket file left by a broker that died is replaced:
 * it is told from a live one by connecting to it (refused = nobody listens). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "petrel/config.h"
#include "petrel/ctl.h"
#include "petrel/log.h"

#define CTL_BACKLOG 64

/* Whether a process answers on the socket file <sa>: 1 yes, 0 no (stale), or -errno
 * (e.g. -EACCES: not ours to judge). */
static int ctl_socket_live(const struct sockaddr_un *sa)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc;

	if (s < 0)
		return -errno;
	rc = connect(s, (const struct sockaddr *)sa, sizeof(*sa));
	if (rc == 0)
		rc = 1;
	else if (errno == EAGAIN)
		rc = 1;   /* its backlog is full: a process listens on it */
	else if (errno == ECONNREFUSED)
		rc = 0;
	else
		rc = -errno;
	close(s);
	return rc;
}

int ctl_listen(const struct config *cfg, int *fd, char *err, size_t errlen)
{
	const char *path = cfg->control_socket;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int s, rc;

	*fd = -1;
	if (path[0] == '\0')
		return 0;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control_socket %s: longer than %zu bytes", path,
			 sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control_socket %s: exists and is not a socket; "
				 "remove it or choose another path", path);
			return -EEXIST;
		}
		rc = ctl_socket_live(&sa);
		if (rc == 1) {
			snprintf(err, errlen, "control_socket %s: another broker answers on it",
				 path);
			return -EADDRINUSE;
		}
		if (rc < 0) {
			snprintf(err, errlen, "control_socket %s: %s", path, strerror(-rc));
			return rc;
		}
		if (unlink(path) < 0) {
			rc = -errno;
			snprintf(err, errlen, "control_socket %s: cannot replace the stale "
				 "socket: %s", path, strerror(-rc));
			return rc;
		}
		log_notice("control_socket %s: replaced the socket of a broker that is gone",
			   path);
	} else if (errno != ENOENT) {
		rc = -errno;
		snprintf(err, errlen, "control_socket %s: %s", path, strerror(-rc));
		return rc;
	}
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0) {
		rc = -errno;
		snprintf(err, errlen, "control_socket %s: %s", path, strerror(-rc));
		return rc;
	}
	old = umask(0177);
	rc = bind(s, (const struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(s, CTL_BACKLOG) < 0) {
		rc = -errno;
		snprintf(err, errlen, "control_socket %s: %s", path, strerror(-rc));
		close(s);
		if (rc != -EADDRINUSE)
			unlink(path);
		return rc;
	}
	*fd = s;
	return 0;
}

void ctl_unlisten(const struct config *cfg, int fd)
{
	if (fd < 0)
		return;
	close(fd);
	if (unlink(cfg->control_socket) < 0 && errno != ENOENT)
		log_warn("control_socket %s: cannot remove: %s", cfg->control_socket,
			 strerror(errno));
}
