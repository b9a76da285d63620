/* The boot sequence and the supervisor of the device runtime's components.
 *
 * What it defends against: a tampered or unsigned bundle in a slot (signature check before
 * anything from it runs), an older signed bundle (version floor in a root-of-trust counter), a
 * bundle that installs but does not work (bounded attempts, health check, fallback), and a power
 * cut at any point (every state change is one atomic file replacement; the attempt is counted
 * before the slot runs, so a crash loop still ends in a fallback), and two OS measurements in one
 * power-on (once a bundle is measured, the next slot decision is taken after a power cycle, which
 * resets the PCRs, so the device can attest right after a fallback). */
#include "device/boot/boot_run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "device/boot/boot_fault.h"
#include "device/boot/boot_osconf.h"
#include "device/boot/boot_slot.h"
#include "device/boot/boot_state.h"
#include "device/monitor/monitor_client.h"
#include "device/monitor/monitor_eventlog.h"
#include "device/rot/rot.h"
#include "pkg/payload_reader.h"

/* SIGTERM, then SIGKILL: the app manager gives its apps 2 s to shut down, and needs a moment more
 * to remove their sandboxes. */
#define BOOT_STOP_GRACE_MS 3000
#define BOOT_RESTART_BACKOFF_MAX_MS 30000
/* Bound on slot decisions in one run: attempts of a pending slot plus the switches between slots. */
#define BOOT_MAX_ROUNDS (2 * BOOT_ATTEMPTS_MAX + 4)
/* Floor catch-up steps in one power-on (each at most ROT_COUNTER_MAX_STEP). */
#define BOOT_FLOOR_CATCHUP_STEPS 8

struct boot_child {
	pid_t pid; /* also its process group; 0 when not running */
	int status;
	uint32_t backoff_ms;
	uint64_t restart_at_ms;
};

static struct boot_child g_children[BOOT_OSCONF_MAX_COMPONENTS];
static size_t g_nchildren;

/* Fault hook: a power cut takes the whole device process tree with it. */
static void kill_children(void)
{
	for (size_t i = 0; i < g_nchildren; i++)
		if (g_children[i].pid > 0)
			kill(-g_children[i].pid, SIGKILL);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct boot_ctx {
	const struct boot_options *o;
	char *state_path;
	struct boot_trust trust;
	struct boot_state st;
	uint64_t floor;
	int lock;
	bool stop;
	bool measured;       /* a bundle was measured in this power-on */
	char device_id[2 * RP_KEY_ID_LEN + 1]; /* ${DEVICE_ID} for os.json; "" until the root of trust is read */
	enum boot_run_result request; /* a component asked for a reboot or power-down */
};

static int ctx_lock(struct boot_ctx *c, rp_error *err)
{
	if (c->lock >= 0)
		return 0;
	c->lock = boot_lock(c->o->state_dir, err);
	return c->lock < 0 ? -1 : 0;
}

static void ctx_unlock(struct boot_ctx *c)
{
	if (c->lock >= 0)
		close(c->lock);
	c->lock = -1;
}

static void boot_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, BOOT_SIGNAL_REBOOT);
	sigaddset(set, BOOT_SIGNAL_POWER_OFF);
}

/* A reboot or power-down request counts only when it was sent with kill(2) by a component this
 * boot stage started and still supervises (the sender's pid from the kernel, not from the
 * message): an app, a stray process or a component of an earlier boot cannot power the device
 * off. Everything else is logged and ignored. */
static void power_request(struct boot_ctx *c, const siginfo_t *si)
{
	const char *what = si->si_signo == BOOT_SIGNAL_REBOOT ? "reboot" : "power-down";
	bool ours = false;
	for (size_t i = 0; i < g_nchildren && (si->si_code == SI_USER || si->si_code == SI_QUEUE); i++)
		ours = ours || (g_children[i].pid > 0 && g_children[i].pid == si->si_pid);
	if (!ours) {
		rp_log_event(RP_LOG_WARNING, "boot.power.refused",
		             "%s request from pid %d refused: not a component this boot stage supervises", what,
		             (int)si->si_pid);
		return;
	}
	rp_log_event(RP_LOG_NOTICE, "boot.power.requested", "%s requested by component pid %d", what, (int)si->si_pid);
	if (c->request != BOOT_RUN_POWER_OFF)
		c->request = si->si_signo == BOOT_SIGNAL_REBOOT ? BOOT_RUN_REBOOT : BOOT_RUN_POWER_OFF;
	c->stop = true;
}

/* Wait up to TIMEOUT_MS for SIGCHLD, SIGTERM, SIGINT or a power request (all blocked; delivered
 * here only). */
static void wait_signal(struct boot_ctx *c, uint64_t timeout_ms)
{
	sigset_t set;
	boot_sigset(&set);
	struct timespec ts = {.tv_sec = (time_t)(timeout_ms / 1000), .tv_nsec = (long)(timeout_ms % 1000) * 1000000};
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	int sig = sigtimedwait(&set, &si, &ts);
	if (sig == SIGTERM || sig == SIGINT)
		c->stop = true;
	else if (sig == BOOT_SIGNAL_REBOOT || sig == BOOT_SIGNAL_POWER_OFF)
		power_request(c, &si);
}

/* Take the reboot and power-down requests already pending, without waiting. */
static void drain_power_requests(struct boot_ctx *c)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, BOOT_SIGNAL_REBOOT);
	sigaddset(&set, BOOT_SIGNAL_POWER_OFF);
	/* Standard signals do not queue: at most one of each is pending. */
	for (int i = 0; i < 4; i++) {
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		int sig = sigtimedwait(&set, &si, &(struct timespec){0});
		if (sig != BOOT_SIGNAL_REBOOT && sig != BOOT_SIGNAL_POWER_OFF)
			break;
		power_request(c, &si);
	}
}

/* Reap exited children; returns the index of the first one that exited, or -1. A component that
 * asked for a reboot or power-down and exited right away must still count as the sender: its
 * signal was pending before its exit was, so requests are taken before its pid is forgotten. */
static ssize_t reap(struct boot_ctx *c)
{
	ssize_t first = -1;
	drain_power_requests(c);
	for (size_t i = 0; i < g_nchildren; i++) {
		if (g_children[i].pid <= 0)
			continue;
		/* Seen exited but not yet reaped, the leader's zombie keeps its pid (the group's ID) from
		 * being reused, so whatever it left in its process group can be killed first: a component
		 * is stopped whole, and a child it forked as it was being stopped cannot live on. */
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)g_children[i].pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
		    si.si_pid != g_children[i].pid)
			continue;
		kill(-g_children[i].pid, SIGKILL);
		int status = 0;
		pid_t r = waitpid(g_children[i].pid, &status, 0);
		if (r == g_children[i].pid) {
			drain_power_requests(c);
			g_children[i].pid = 0;
			g_children[i].status = status;
			if (first < 0)
				first = (ssize_t)i;
		}
	}
	return first;
}

static void describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "stopped");
}

struct boot_runtime {
	struct boot_osconf conf;
	struct boot_osconf_vars vars;
	char *root;
	char *run;
	char *version;
	char *slot_env, *state_env, *version_env, *pid_env;
	char *ready[BOOT_OSCONF_MAX_COMPONENTS];
};

static void runtime_free(struct boot_runtime *rt)
{
	boot_osconf_free(&rt->conf);
	free(rt->root);
	free(rt->run);
	free(rt->version);
	free(rt->slot_env);
	free(rt->state_env);
	free(rt->version_env);
	free(rt->pid_env);
	for (size_t i = 0; i < BOOT_OSCONF_MAX_COMPONENTS; i++)
		free(rt->ready[i]);
	memset(rt, 0, sizeof(*rt));
}

/* Start component I in its own process group, in the bundle root, with stdin on /dev/null, a
 * minimal environment and no inherited descriptors beyond stdout/stderr. */
static int spawn_component(struct boot_runtime *rt, size_t i, rp_error *err)
{
	const struct boot_component *comp = &rt->conf.components[i];
	_cleanup_free_ char *path = xasprintf("%s/%s", rt->root, comp->exec);
	char **argv = xcalloc(comp->nargs + 2, sizeof(char *));
	argv[0] = xstrdup(path);
	int rc = 0;
	for (size_t j = 0; j < comp->nargs && rc == 0; j++) {
		argv[j + 1] = boot_osconf_expand(comp->args[j], &rt->vars, err);
		if (!argv[j + 1])
			rc = rp_error_prefix(err, "component '%s'", comp->name);
	}
	char *envp[] = {(char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", rt->state_env,
	                rt->slot_env, rt->version_env, rt->pid_env, NULL};
	pid_t pid = -1;
	if (rc == 0) {
		pid = fork();
		if (pid < 0)
			rc = rp_error_set_errno(err, errno, "starting component '%s'", comp->name);
	}
	if (pid == 0) {
		setpgid(0, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (nul < 0 || dup2(nul, 0) < 0 || chdir(rt->root) < 0)
			_exit(126);
		closefrom(3);
		execve(path, argv, envp);
		_exit(127);
	}
	if (pid > 0) {
		setpgid(pid, pid);
		g_children[i].pid = pid;
		g_children[i].status = 0;
		rp_log_event(RP_LOG_INFO, "boot.component.started", "component '%s' started (pid %d)", comp->name, (int)pid);
	}
	for (size_t j = 0; argv[j]; j++)
		free(argv[j]);
	free(argv);
	return rc;
}

/* A reboot or power-down request that arrives while the components stop still counts (C). */
static void stop_children(struct boot_ctx *c)
{
	for (size_t i = 0; i < g_nchildren; i++)
		if (g_children[i].pid > 0)
			kill(-g_children[i].pid, SIGTERM);
	uint64_t deadline = now_ms() + BOOT_STOP_GRACE_MS;
	for (;;) {
		reap(c);
		bool any = false;
		for (size_t i = 0; i < g_nchildren; i++)
			any = any || g_children[i].pid > 0;
		if (!any)
			break;
		uint64_t t = now_ms();
		if (t >= deadline) {
			kill_children();
			for (size_t i = 0; i < g_nchildren; i++)
				if (g_children[i].pid > 0) {
					waitpid(g_children[i].pid, NULL, 0);
					g_children[i].pid = 0;
				}
			break;
		}
		wait_signal(c, deadline - t < 50 ? deadline - t : 50);
	}
	g_nchildren = 0;
}

/* Expanded ready-file paths, or NULL entries for components without one. */
static int ready_paths(struct boot_runtime *rt, char *paths[BOOT_OSCONF_MAX_COMPONENTS], rp_error *err)
{
	for (size_t i = 0; i < rt->conf.ncomponents; i++) {
		paths[i] = NULL;
		if (!rt->conf.components[i].ready_file)
			continue;
		paths[i] = boot_osconf_expand(rt->conf.components[i].ready_file, &rt->vars, err);
		if (!paths[i])
			return rp_error_prefix(err, "component '%s': ready_file", rt->conf.components[i].name);
		/* A file left from an earlier boot must not count as this boot's readiness. */
		if (unlink(paths[i]) < 0 && errno != ENOENT)
			return rp_error_set_errno(err, errno, "removing %s", paths[i]);
	}
	return 0;
}

/* Health rule: every required component has created its ready_file (when os.json names one)
 * and is still running SETTLE_MS after start, all within the health timeout. Returns true when
 * it passed; REASON says why not. */
static bool health_check(struct boot_ctx *c, struct boot_runtime *rt, char *reason, size_t rlen)
{
	uint32_t settle = rt->conf.settle_ms;
	if (settle > c->o->health_timeout_ms) {
		snprintf(reason, rlen, "os.json asks for %u ms of settle time, over the health timeout of %u ms", settle,
		         c->o->health_timeout_ms);
		return false;
	}
	uint64_t t0 = now_ms(), deadline = t0 + settle, limit = t0 + c->o->health_timeout_ms;
	for (;;) {
		ssize_t gone;
		while ((gone = reap(c)) >= 0) {
			const struct boot_component *comp = &rt->conf.components[gone];
			char how[64];
			describe_status(g_children[gone].status, how, sizeof(how));
			if (comp->required) {
				snprintf(reason, rlen, "component '%s' %s during the health check", comp->name, how);
				return false;
			}
			rp_log_event(RP_LOG_WARNING, "boot.component.exited", "optional component '%s' %s", comp->name, how);
		}
		if (c->stop) {
			snprintf(reason, rlen, "stopped during the health check");
			return false;
		}
		uint64_t t = now_ms();
		const char *waiting = NULL;
		for (size_t i = 0; i < rt->conf.ncomponents && !waiting; i++)
			if (rt->conf.components[i].required && rt->ready[i] && access(rt->ready[i], F_OK) != 0)
				waiting = rt->conf.components[i].name;
		if (t >= deadline && !waiting)
			return true;
		if (t >= limit) {
			snprintf(reason, rlen, "component '%s' was not ready within the health timeout of %u ms", waiting,
			         c->o->health_timeout_ms);
			return false;
		}
		uint64_t next = waiting ? t + 10 : deadline;
		wait_signal(c, (next < limit ? next : limit) - t);
	}
}

/* Advance the OS floor to VERSION: through the bundle's monitor when it runs one, else directly
 * (the root of trust is free). Failure is not fatal: the next boot catches the floor up to the
 * committed version before anything starts. */
static void floor_advance(struct boot_ctx *c, const struct boot_runtime *rt, uint64_t version)
{
	rp_error e = RP_ERROR_INIT;
	if (rt && rt->conf.monitor_socket) {
		_cleanup_free_ char *sock = boot_osconf_expand(rt->conf.monitor_socket, &rt->vars, &e);
		_cleanup_monitor_client_ monitor_client *mc = sock ? monitor_client_connect(sock, &e) : NULL;
		uint64_t now = 0;
		if (mc && monitor_client_advance_counter(mc, BOOT_ROT_COUNTER_OS_FLOOR, version, &now, &e) == 0) {
			c->floor = now;
			return;
		}
	} else {
		rot_config cfg = {.tcti = c->o->tcti, .create = false};
		_cleanup_rot_ rot *r = rot_open(c->o->rot_backend, c->o->state_dir, &cfg, NULL, &e);
		if (r && rot_counter_advance_to(r, BOOT_ROT_COUNTER_OS_FLOOR, version, &e) == 0) {
			c->floor = version;
			return;
		}
	}
	rp_log_event(RP_LOG_WARNING, "boot.floor.deferred",
	             "could not advance the OS version floor to %llu now (%s); the next boot will", (unsigned long long)version,
	             e.message);
}

static int save_state(struct boot_ctx *c, rp_error *err)
{
	if (ctx_lock(c, err) < 0)
		return -1;
	return boot_state_save(c->state_path, &c->st, err);
}

/* The pending slot failed (health, attempts or verification): go back to the previous slot. */
static int rollback(struct boot_ctx *c, uint64_t version, const char *reason, rp_error *err)
{
	unsigned failed = c->st.active;
	c->st.bad_mask |= (uint8_t)(1u << failed);
	c->st.pending = false;
	c->st.attempts_left = 0;
	if (c->st.previous == BOOT_SLOT_NONE) {
		boot_state_set_result(&c->st, "update to version %llu failed (%s) and there is no previous slot to fall "
		                              "back to", (unsigned long long)version, reason);
	} else {
		c->st.active = c->st.previous;
		c->st.previous = BOOT_SLOT_NONE;
		boot_state_set_result(&c->st, "rolled back: version %llu in slot %s failed (%s); booting slot %s",
		                      (unsigned long long)version, boot_state_slot_name(failed), reason,
		                      boot_state_slot_name(c->st.active));
	}
	boot_fault_point("rollback.before-state");
	if (save_state(c, err) < 0)
		return -1;
	boot_fault_point("rollback.after-state");
	rp_log_event(RP_LOG_ERROR, "boot.rollback", "%s", c->st.last_result);
	return 0;
}

/* The lowest version allowed to boot: the floor, or the version the boot-state record says was
 * committed when that is higher (a power cut between the commit record and the floor advance). A
 * record rebuilt from the slots carries the floor itself, so this never trusts more than the slots. */
static uint64_t lowest_bootable(const struct boot_ctx *c)
{
	return c->st.committed_version > c->floor ? c->st.committed_version : c->floor;
}

static int below_floor(const struct boot_ctx *c, unsigned slot, uint64_t version, rp_error *err)
{
	if (c->st.committed_version > c->floor)
		return rp_error_set(err, RP_E_VERIFY,
		                    "slot %s: version %llu is below the committed version %llu (rollback refused; the OS "
		                    "version floor %llu has not caught up yet)",
		                    boot_state_slot_name(slot), (unsigned long long)version,
		                    (unsigned long long)c->st.committed_version, (unsigned long long)c->floor);
	return rp_error_set(err, RP_E_VERIFY, "slot %s: version %llu is below the OS version floor %llu (rollback refused)",
	                    boot_state_slot_name(slot), (unsigned long long)version, (unsigned long long)c->floor);
}

/* The active slot cannot be used at all (does not verify, below the floor): switch to the other
 * slot if it verifies; fails when neither does. */
static int switch_away(struct boot_ctx *c, const char *reason, rp_error *err)
{
	unsigned bad = c->st.active, other = 1u - bad;
	rp_log_event(RP_LOG_ERROR, "boot.slot.refused", "%s", reason);
	rp_error e = RP_ERROR_INIT;
	_cleanup_package_ struct package *pkg = boot_slot_open(c->o->state_dir, other, &c->trust, &e);
	uint64_t lowest = lowest_bootable(c);
	if (pkg && pkg->md.version < lowest)
		below_floor(c, other, pkg->md.version, &e);
	if (!pkg || pkg->md.version < lowest)
		return rp_error_set(err, RP_E_VERIFY, "no bootable slot: %s; and %s", reason, e.message);
	bool was_pending = c->st.pending;
	c->st.bad_mask |= (uint8_t)(1u << bad);
	c->st.active = (uint8_t)other;
	c->st.previous = BOOT_SLOT_NONE;
	uint64_t known = c->floor > c->st.committed_version ? c->floor : c->st.committed_version;
	c->st.pending = pkg->md.version > known;
	c->st.attempts_left = c->st.pending ? 1 : 0;
	boot_state_set_result(&c->st, "%s%s; booting slot %s (version %llu)", was_pending ? "rolled back: " : "", reason,
	                      boot_state_slot_name(other), (unsigned long long)pkg->md.version);
	return save_state(c, err);
}

static int extract_and_configure(struct boot_ctx *c, const struct package *pkg, struct boot_runtime *rt,
                                 rp_error *err)
{
	rt->run = xasprintf("%s/boot/run", c->o->state_dir);
	rt->root = xasprintf("%s/root", rt->run);
	rt->version = xasprintf("%llu", (unsigned long long)pkg->md.version);
	rt->slot_env = xasprintf("RAMPART_BOOT_SLOT=%s", boot_state_slot_name(c->st.active));
	rt->state_env = xasprintf("RAMPART_STATE=%s", c->o->state_dir);
	rt->version_env = xasprintf("RAMPART_OS_VERSION=%s", rt->version);
	/* Lets a component check that its parent is the boot stage before asking it for a reboot. */
	rt->pid_env = xasprintf("RAMPART_BOOT_PID=%d", (int)getpid());
	/* Run from a fresh extraction of the bundle just verified, never from an older tree. */
	if (rp_remove_tree(rt->root, err) < 0 || rp_mkdir_p(rt->root, 0755, err) < 0)
		return rp_error_prefix(err, "preparing %s", rt->root);
	_cleanup_close_ int dfd = open(rt->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return rp_error_set_errno(err, errno, "opening %s", rt->root);
	if (payload_reader_extract(pkg, dfd, NULL, err) < 0)
		return rp_error_prefix(err, "extracting the bundle into %s", rt->root);
	boot_fault_point("boot.extracted");
	_cleanup_free_ uint8_t *json = NULL;
	size_t len = 0;
	if (payload_reader_read_file(pkg, "os.json", BOOT_OSCONF_MAX_LEN, &json, &len, err) < 0)
		return rp_error_prefix(err, "reading os.json from the bundle");
	if (boot_osconf_parse((const char *)json, len, &rt->conf, err) < 0)
		return -1;
	rt->vars = (struct boot_osconf_vars){.state = c->o->state_dir, .root = rt->root, .run = rt->run,
	                                     .rot = c->o->rot_backend, .tcti = c->o->tcti, .version = rt->version,
	                                     .device_id = c->device_id};
	return ready_paths(rt, rt->ready, err);
}

static int start_all(struct boot_runtime *rt, rp_error *err)
{
	g_nchildren = rt->conf.ncomponents;
	memset(g_children, 0, sizeof(g_children));
	for (size_t i = 0; i < rt->conf.ncomponents; i++)
		if (spawn_component(rt, i, err) < 0)
			return -1;
	return 0;
}

/* Keep the components running until SIGTERM: a component that exits is restarted with an
 * exponential backoff (1 s .. 30 s) so a crash loop cannot spin the CPU. */
static void supervise(struct boot_ctx *c, struct boot_runtime *rt)
{
	rp_log_event(RP_LOG_NOTICE, "boot.running", "version %s (slot %s) is running", rt->version,
	             boot_state_slot_name(c->st.active));
	while (!c->stop) {
		ssize_t gone;
		uint64_t t = now_ms();
		while ((gone = reap(c)) >= 0) {
			struct boot_child *ch = &g_children[gone];
			char how[64];
			describe_status(ch->status, how, sizeof(how));
			ch->backoff_ms = ch->backoff_ms ? ch->backoff_ms * 2 : 1000;
			if (ch->backoff_ms > BOOT_RESTART_BACKOFF_MAX_MS)
				ch->backoff_ms = BOOT_RESTART_BACKOFF_MAX_MS;
			ch->restart_at_ms = t + ch->backoff_ms;
			rp_log_event(RP_LOG_WARNING, "boot.component.exited", "component '%s' %s; restarting in %u ms",
			             rt->conf.components[gone].name, how, ch->backoff_ms);
		}
		uint64_t next = t + 60000;
		for (size_t i = 0; i < g_nchildren; i++) {
			struct boot_child *ch = &g_children[i];
			if (ch->pid > 0 || !ch->restart_at_ms)
				continue;
			if (ch->restart_at_ms <= t) {
				rp_error e = RP_ERROR_INIT;
				ch->restart_at_ms = 0;
				if (spawn_component(rt, i, &e) < 0)
					rp_log_event(RP_LOG_ERROR, "boot.component.restart-failed", "%s", e.message);
			} else if (ch->restart_at_ms < next) {
				next = ch->restart_at_ms;
			}
		}
		/* reap() takes power requests that arrived meanwhile (for example during the commit):
		 * act on them now rather than after the next signal or timeout. */
		if (c->stop)
			break;
		wait_signal(c, next > t ? next - t : 1);
	}
	rp_log_event(RP_LOG_NOTICE, "boot.stopping", "stopping the components");
}

/* Verify the active slot and check its version against the floor and the committed version; NULL
 * with the reason in ERR. */
static struct package *verify_active(struct boot_ctx *c, rp_error *err)
{
	struct package *pkg = boot_slot_open(c->o->state_dir, c->st.active, &c->trust, err);
	if (pkg && pkg->md.version < lowest_bootable(c)) {
		below_floor(c, c->st.active, pkg->md.version, err);
		package_free(pkg);
		return NULL;
	}
	return pkg;
}

/* Raise the floor towards TARGET in steps the root of trust accepts (ROT_COUNTER_MAX_STEP each),
 * at most BOOT_FLOOR_CATCHUP_STEPS of them per power-on; c->floor follows every step taken. */
static int floor_catch_up(struct boot_ctx *c, rot *r, uint64_t target, rp_error *err)
{
	for (int i = 0; i < BOOT_FLOOR_CATCHUP_STEPS && c->floor < target; i++) {
		uint64_t next = target - c->floor > ROT_COUNTER_MAX_STEP ? c->floor + ROT_COUNTER_MAX_STEP : target;
		boot_fault_point("boot.floor.catch-up");
		if (rot_counter_advance_to(r, BOOT_ROT_COUNTER_OS_FLOOR, next, err) < 0)
			return -1;
		c->floor = next;
	}
	if (c->floor < target)
		return rp_error_set(err, RP_E_LIMIT, "reached %llu after %d steps of at most %d, the limit for one boot",
		                    (unsigned long long)c->floor, BOOT_FLOOR_CATCHUP_STEPS, ROT_COUNTER_MAX_STEP);
	return 0;
}

/* Before anything from the bundle runs: read the floor, catch it up to a committed slot, and
 * measure the bundle. The root of trust is closed again before the caller starts components. */
static int rot_phase(struct boot_ctx *c, const struct package *pkg, bool read_only, rp_error *err)
{
	rot_config cfg = {.tcti = c->o->tcti, .create = false};
	_cleanup_rot_ rot *r = NULL;
	/* A status or install command may hold the root of trust for a moment: wait, bounded. */
	for (int i = 0; i < 250; i++) {
		rp_error_clear(err);
		r = rot_open(c->o->rot_backend, c->o->state_dir, &cfg, NULL, err);
		if (r || err->code != RP_E_CONFLICT)
			break;
		nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
	}
	if (!r)
		return rp_error_prefix(err, "opening the root of trust");
	if (rot_counter_read(r, BOOT_ROT_COUNTER_OS_FLOOR, &c->floor, err) < 0)
		return rp_error_prefix(err, "reading the OS version floor");
	uint8_t id[RP_KEY_ID_LEN];
	if (!c->device_id[0] && rot_device_id(r, id, err) == 0) {
		_cleanup_free_ char *idhex = rp_hex_encode(id, sizeof(id));
		snprintf(c->device_id, sizeof(c->device_id), "%s", idhex);
	}
	rp_error_clear(err); /* without it ${DEVICE_ID} expands to "", which its users refuse */
	if (read_only)
		return 0;
	uint64_t target = pkg->md.version < c->st.committed_version ? pkg->md.version : c->st.committed_version;
	if (!c->st.pending && target > c->floor) {
		/* A commit whose floor advance was cut short (power loss, busy root of trust). Only up to
		 * the version recorded as committed: a bundle that never passed its health check (no
		 * fallback left) must not raise the floor. Best effort: the verified bundle runs even when
		 * the floor cannot follow now, as after floor_advance; the next boot tries again. */
		rp_error e = RP_ERROR_INIT;
		if (floor_catch_up(c, r, target, &e) < 0)
			rp_log_event(RP_LOG_WARNING, "boot.floor.deferred",
			             "could not catch the OS version floor up to committed version %llu (%s); the floor "
			             "stays at %llu and the next boot tries again",
			             (unsigned long long)target, e.message, (unsigned long long)c->floor);
		else
			rp_log_event(RP_LOG_NOTICE, "boot.floor.advanced", "OS version floor caught up to %llu",
			             (unsigned long long)c->floor);
	}
	uint8_t digest[RP_SHA256_LEN];
	rp_sha256_buf(pkg->data, pkg->len, digest);
	_cleanup_free_ char *hex = rp_hex_encode(digest, sizeof(digest));
	char version[32];
	snprintf(version, sizeof(version), "%llu", (unsigned long long)pkg->md.version);
	/* Extend and record in the monitor's measurement log (STATE/monitor/eventlog.bin), so the
	 * monitor started next finds a log that replays to the PCRs and can attest this boot. */
	uint8_t before[ROT_PCR_COUNT][RP_SHA256_LEN], after[ROT_PCR_COUNT][RP_SHA256_LEN];
	if (rot_pcr_read(r, 1u << c->o->pcr, before, err) < 0)
		return rp_error_prefix(err, "measuring the OS bundle");
	rp_error merr = RP_ERROR_INIT;
	if (monitor_eventlog_measure(r, c->o->state_dir, c->o->pcr, "os-bundle", version, digest, &merr) < 0) {
		/* The PCR must record what runs; the log may fail (full after many restarts within one
		 * power-on, disk full). A PCR without its log entry makes the monitor refuse to attest
		 * until the next power-on: fail closed for attestation, keep the device running. */
		if (rot_pcr_read(r, 1u << c->o->pcr, after, err) < 0)
			return rp_error_prefix(err, "measuring the OS bundle");
		if (memcmp(before[c->o->pcr], after[c->o->pcr], RP_SHA256_LEN) == 0 &&
		    rot_pcr_extend(r, c->o->pcr, digest, err) < 0)
			return rp_error_prefix(err, "measuring the OS bundle into PCR %u", c->o->pcr);
		rp_log_event(RP_LOG_WARNING, "boot.measurement.unlogged",
		             "PCR %u extended but the measurement log was not updated (%s); attestation is refused until "
		             "the next power-on", c->o->pcr, merr.message);
	}
	rp_log_event(RP_LOG_NOTICE, "boot.measured", "OS bundle version %llu (slot %s) measured into PCR %u: sha256=%s",
	             (unsigned long long)pkg->md.version, boot_state_slot_name(c->st.active), c->o->pcr, hex);
	return 0;
}

/* One round: verify, count the attempt, measure, start, health check. Returns 1 when the device
 * is up (committed or was already), 0 when another round is needed (state changed), -1 on error. */
static int boot_round(struct boot_ctx *c, struct boot_runtime *rt, rp_error *err)
{
	if (ctx_lock(c, err) < 0 || rot_phase(c, NULL, true, err) < 0)
		return -1;
	rp_error verr = RP_ERROR_INIT;
	_cleanup_package_ struct package *pkg = verify_active(c, &verr);
	if (!pkg)
		return switch_away(c, verr.message, err) < 0 ? -1 : 0;
	uint64_t version = pkg->md.version;
	if (c->st.pending) {
		if (c->st.attempts_left == 0)
			return rollback(c, version, "had no boot attempts left (earlier attempts did not pass the health check)",
			                err) < 0 ? -1 : 0;
		/* Counted before the slot runs: a crash or hang during the attempt still uses it up. */
		c->st.attempts_left--;
		if (save_state(c, err) < 0)
			return -1;
		boot_fault_point("boot.attempt-counted");
	}
	if (rot_phase(c, pkg, false, err) < 0)
		return -1;
	c->measured = true;
	boot_fault_point("boot.measured");
	ctx_unlock(c);
	if (extract_and_configure(c, pkg, rt, err) < 0 || start_all(rt, err) < 0) {
		stop_children(c);
		if (!c->st.pending)
			return -1;
		rp_log_event(RP_LOG_ERROR, "boot.attempt.failed", "%s", err->message);
		char reason[RP_ERROR_MESSAGE_MAX + 32];
		snprintf(reason, sizeof(reason), "could not start: %.*s", RP_ERROR_MESSAGE_MAX - 1, err->message);
		rp_error_clear(err);
		runtime_free(rt);
		if (c->st.attempts_left > 0)
			return 0;
		return rollback(c, version, reason, err) < 0 ? -1 : 0;
	}
	boot_fault_point("boot.started");
	char reason[512] = "";
	if (health_check(c, rt, reason, sizeof(reason))) {
		rp_log_event(RP_LOG_NOTICE, "boot.health.passed", "version %llu passed its health check",
		             (unsigned long long)version);
		if (c->st.pending) {
			c->st.pending = false;
			c->st.attempts_left = 0;
			c->st.committed_version = version;
			c->st.bad_mask &= (uint8_t)~(1u << c->st.active);
			boot_state_set_result(&c->st, "committed version %llu (slot %s)", (unsigned long long)version,
			                      boot_state_slot_name(c->st.active));
			boot_fault_point("commit.before-state");
			if (save_state(c, err) < 0)
				return -1;
			boot_fault_point("commit.after-state");
			floor_advance(c, rt, version);
			boot_fault_point("commit.after-floor");
			ctx_unlock(c);
			rp_log_event(RP_LOG_NOTICE, "boot.commit", "%s; OS version floor %llu", c->st.last_result,
			             (unsigned long long)c->floor);
		}
		return 1;
	}
	stop_children(c);
	if (c->stop)
		return 1;
	rp_log_event(RP_LOG_ERROR, "boot.health.failed", "version %llu: %s", (unsigned long long)version, reason);
	if (!c->st.pending) {
		/* Nothing to fall back to (the other slot is older than the floor or absent): keep the
		 * committed version and let the supervisor's restart policy retry its components. */
		if (c->o->until_healthy)
			return rp_error_set(err, RP_E_UNAVAILABLE, "committed version %llu failed its health check: %s",
			                    (unsigned long long)version, reason);
		return start_all(rt, err) < 0 ? -1 : 1;
	}
	runtime_free(rt);
	if (c->st.attempts_left > 0)
		return 0;
	return rollback(c, version, reason, err) < 0 ? -1 : 0;
}

int boot_run(const struct boot_options *o, rp_error *err)
{
	struct boot_ctx c = {.o = o, .lock = -1};
	struct boot_runtime rt = {0};
	int rc = -1;
	sigset_t set, old;
	boot_sigset(&set);
	sigprocmask(SIG_BLOCK, &set, &old);
	boot_fault_set_killer(kill_children);
	c.state_path = boot_state_path(o->state_dir);
	if (boot_trust_load(o->state_dir, &c.trust, err) < 0)
		goto out;
	bool fresh = false, rebuilt = false;
	if (ctx_lock(&c, err) < 0 || rot_phase(&c, NULL, true, err) < 0 ||
	    boot_state_load_or_reconstruct(o->state_dir, &c.trust, c.floor, &c.st, &fresh, &rebuilt, err) < 0)
		goto out;
	/* Under the lock: no install is streaming, so a temporary bundle is one a power cut left. */
	boot_slot_remove_partial(o->state_dir);
	if (fresh && boot_state_reconstruct(o->state_dir, &c.trust, c.floor, &c.st, err) < 0)
		goto out;
	if ((fresh || rebuilt) && save_state(&c, err) < 0)
		goto out;
	int r = 0;
	for (int round = 0; round < BOOT_MAX_ROUNDS && r == 0 && !c.stop && !c.measured; round++)
		r = boot_round(&c, &rt, err);
	if (r < 0)
		goto out;
	if (r == 0 && c.measured && !c.stop) {
		/* The decision is saved; the bundle measured in this power-on stays in the PCRs until a
		 * reset, so the next slot runs after a power cycle, never in this one. */
		rp_log_event(RP_LOG_NOTICE, "boot.reboot", "slot %s%s is next; it boots after a power cycle",
		             boot_state_slot_name(c.st.active), c.st.pending ? " (pending its health check)" : "");
		c.request = BOOT_RUN_REBOOT;
	} else if (r == 0 && !c.stop) {
		rp_error_set(err, RP_E_INTERNAL, "no slot decision after %d rounds", BOOT_MAX_ROUNDS);
		goto out;
	}
	if (!o->until_healthy && !c.stop && c.request == BOOT_RUN_STOPPED)
		supervise(&c, &rt);
	stop_children(&c);
	if (c.request == BOOT_RUN_POWER_OFF || c.request == BOOT_RUN_REBOOT)
		rp_log_event(RP_LOG_NOTICE, c.request == BOOT_RUN_REBOOT ? "boot.rebooting" : "boot.powering-off",
		             "every component stopped; %s", c.request == BOOT_RUN_REBOOT ? "rebooting" : "powering off");
	rc = (int)c.request;
out:
	stop_children(&c);
	ctx_unlock(&c);
	runtime_free(&rt);
	boot_trust_free(&c.trust);
	free(c.state_path);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}
