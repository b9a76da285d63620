/* bench/attest load tool: full attestations per second at rampartd from many simulated devices,
 * each with its own real P-256 identity key, registered and claimed into a product's Development
 * group, producing soft-backend evidence (quote + body signature) over every fresh nonce. Each
 * attestation is a challenge and an evidence request on one fresh TLS connection (a full handshake,
 * no session resumption), as a device agent that keeps the connection between the two does; with
 * --connections 2 each request opens its own connection.
 *
 *   attest-load --service URL --service-ca FILE --token ADMIN_TOKEN [--devices N] [--threads T]
 *               [--seconds S] [--connections 1|2]
 * Prints one JSON line: attestations, seconds, per_second, failures, connections (TLS connections
 * opened per attestation, as counted by libcurl), load_cpu_ms and (with --service-pid) service_cpu_ms:
 * CPU time (user+system) per attestation during the timed window. bench/attest/run.sh runs it
 * next to `openssl speed ecdsap256` and prints the ratio. */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "attest/evidence.h"
#include "attest/quote_verify.h"
#include "common/bytes.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/json.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "device/agent/agent_csr.h"

struct sim_device {
	EVP_PKEY *key;
	char id[65];
	uint8_t id_raw[32];
	char *client_csr, *api_csr; /* reused across rounds: the service's cost is the same */
};

static const char *service, *ca_file, *token;
static struct sim_device *devices;
static size_t n_devices = 64;
static atomic_size_t done, failures, next_device, connects;
static unsigned conns_per_attestation = 1;
static atomic_bool stop_flag;
static uint32_t service_pid; /* 0: the service's CPU time is not reported */

/* utime+stime of PID in seconds from /proc/PID/stat; -1 when unreadable. */
static double proc_cpu_seconds(uint32_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	unsigned long long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct sink {
	rp_buf b;
};

static size_t sink_write(char *d, size_t s, size_t n, void *u)
{
	struct sink *k = u;
	if (k->b.len + s * n > 1 << 20)
		return 0;
	rp_buf_append(&k->b, d, s * n);
	return s * n;
}

/* POST JSON; with SHARED NULL on a fresh connection of its own, else on SHARED's connection (opened
 * fresh when FRESH). Returns the status and the parsed reply. */
static long post_on(CURL *shared, bool fresh, const char *path, json_t *body, const char *bearer, json_t **reply)
{
	CURL *c = shared ? shared : curl_easy_init();
	curl_easy_reset(c);
	_cleanup_free_ char *url = xasprintf("%s%s", service, path);
	_cleanup_free_ char *payload = rp_json_dump(body);
	_cleanup_free_ char *auth = bearer ? xasprintf("Authorization: Bearer %s", bearer) : NULL;
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	if (auth)
		h = curl_slist_append(h, auth);
	struct sink k;
	rp_buf_init(&k.b);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	/* Only the service's CA, and no CA directory: libcurl then keeps the parsed CA store on the
	 * worker's handle instead of re-reading the file for every connection. */
	curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	/* The first request of an attestation opens a new connection, the last closes it. */
	curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, shared && !fresh ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, shared && fresh ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_SSL_SESSIONID_CACHE, 0L); /* a full handshake every time */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	long status = 0;
	long opened = 0;
	if (curl_easy_perform(c) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &opened);
		atomic_fetch_add(&connects, (size_t)opened);
	}
	curl_slist_free_all(h);
	if (!shared)
		curl_easy_cleanup(c);
	*reply = status ? rp_json_parse((const char *)k.b.data, k.b.len, 1 << 20, "reply", NULL) : NULL;
	rp_buf_free(&k.b);
	return status;
}

static long post(const char *path, json_t *body, const char *bearer, json_t **reply)
{
	return post_on(NULL, true, path, body, bearer, reply);
}

/* Soft-backend evidence for a device that measured nothing (PCRs 8..15 zero). */
static char *make_evidence(struct sim_device *d, const uint8_t nonce[32], rp_error *err)
{
	evidence ev;
	evidence_init(&ev);
	char *out = NULL;
	rp_buf body, enc, att;
	rp_buf_init(&body);
	rp_buf_init(&enc);
	rp_buf_init(&att);
	uint8_t values[QUOTE_PCR_COUNT][RP_SHA256_LEN];
	memset(values, 0, sizeof(values));
	uint8_t digest[RP_SHA256_LEN];
	quote_pcr_digest(EVIDENCE_PCR_MASK, values, digest);
	uint8_t name[34] = {0x00, 0x0b};
	memcpy(name + 2, d->id_raw, 32);
	quote_attest_build(&att, name, sizeof(name), nonce, 32, EVIDENCE_PCR_MASK, digest, (uint64_t)time(NULL));
	if (evidence_set_backend(&ev, "soft", true, err) < 0 || evidence_add_counter(&ev, 0, 1, err) < 0)
		goto out;
	memcpy(ev.device_id, d->id_raw, 32);
	memcpy(ev.nonce, nonce, 32);
	memcpy(ev.quote_attest, att.data, att.len);
	ev.quote_attest_len = att.len;
	if (rp_ecdsa_sign(d->key, att.data, att.len, ev.quote_sig, &ev.quote_sig_len, err) < 0 ||
	    evidence_encode_body(&ev, &body, err) < 0 || rp_ecdsa_sign(d->key, body.data, body.len, ev.sig, &ev.sig_len, err) < 0 ||
	    evidence_encode(&ev, &enc, err) < 0)
		goto out;
	out = rp_base64_encode(enc.data, enc.len);
out:
	rp_buf_free(&body);
	rp_buf_free(&enc);
	rp_buf_free(&att);
	evidence_free(&ev);
	return out;
}

/* CONN: the worker's handle, kept across attestations as a device keeps its loaded CA store;
 * every attestation still opens a fresh connection (full handshake, no session resumption) and
 * closes it after the evidence request. */
static bool attest_once(struct sim_device *d, CURL *conn)
{
	json_t *req = json_pack("{s:s}", "device_id", d->id), *reply = NULL;
	long st = post_on(conn, true, "/v1/attestation/challenge", req, NULL, &reply);
	json_decref(req);
	const char *nonce_hex = reply ? json_string_value(json_object_get(reply, "nonce")) : NULL;
	uint8_t nonce[32];
	rp_error err = RP_ERROR_INIT;
	if (st != 200 || !nonce_hex || rp_hex_decode(nonce_hex, nonce, 32, &err) < 0) {
		if (atomic_load(&failures) < 3)
			fprintf(stderr, "attest-load: challenge failed (HTTP %ld): %s\n", st,
			        reply ? json_string_value(json_object_get(json_object_get(reply, "error"), "message")) : "-");
		json_decref(reply);
		return false;
	}
	_cleanup_free_ char *ev = make_evidence(d, nonce, &err);
	req = json_pack("{s:s, s:s, s:s, s:s, s:s}", "device_id", d->id, "nonce", nonce_hex, "evidence", ev ? ev : "",
	                "client_csr", d->client_csr, "device_api_csr", d->api_csr);
	json_decref(reply);
	reply = NULL;
	st = post_on(conn, false, "/v1/attestation/evidence", req, NULL, &reply);
	json_decref(req);
	bool ok = st == 200 && reply && json_object_get(reply, "client_certificate");
	if (!ok && atomic_load(&failures) < 3)
		fprintf(stderr, "attest-load: attestation failed (HTTP %ld): %s\n", st,
		        reply ? json_string_value(json_object_get(json_object_get(reply, "error"), "message")) : "-");
	json_decref(reply);
	return ok;
}

static void *worker(void *arg)
{
	(void)arg;
	CURL *conn = conns_per_attestation == 1 ? curl_easy_init() : NULL;
	while (!atomic_load(&stop_flag)) {
		size_t i = atomic_fetch_add(&next_device, 1) % n_devices;
		if (attest_once(&devices[i], conn))
			atomic_fetch_add(&done, 1);
		else
			atomic_fetch_add(&failures, 1);
	}
	if (conn)
		curl_easy_cleanup(conn);
	return NULL;
}

static int setup(const char *group_id, const char *tenant)
{
	rp_error err = RP_ERROR_INIT;
	devices = xcalloc(n_devices, sizeof(*devices));
	for (size_t i = 0; i < n_devices; i++) {
		struct sim_device *d = &devices[i];
		d->key = rp_key_generate_p256(&err);
		_cleanup_free_ char *hex = d->key ? rp_key_id_hex(d->key, &err) : NULL;
		_cleanup_free_ char *pem = hex ? rp_key_public_pem(d->key, &err) : NULL;
		if (!pem)
			return fprintf(stderr, "attest-load: %s\n", err.message), -1;
		memcpy(d->id, hex, 65);
		if (rp_hex_decode(hex, d->id_raw, 32, &err) < 0)
			return -1;
		EVP_PKEY *k1 = rp_key_generate_p256(&err), *k2 = rp_key_generate_p256(&err);
		d->client_csr = agent_csr_build(k1, hex, &err);
		d->api_csr = agent_csr_build(k2, hex, &err);
		EVP_PKEY_free(k1);
		EVP_PKEY_free(k2);
		json_t *reply = NULL, *req = json_pack("{s:s, s:s}", "device_id", hex, "public_key_pem", pem);
		long st = post("/v1/devices", req, token, &reply);
		json_decref(req);
		json_decref(reply);
		if (st != 201)
			return fprintf(stderr, "attest-load: registering a device: HTTP %ld\n", st), -1;
		_cleanup_free_ char *path = xasprintf("/v1/tenants/%s/devices/claim", tenant);
		req = json_pack("{s:s, s:s}", "device_id", hex, "device_group_id", group_id);
		st = post(path, req, token, &reply);
		json_decref(req);
		json_decref(reply);
		if (st != 200 && st != 201)
			return fprintf(stderr, "attest-load: claiming a device: HTTP %ld\n", st), -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"service", required_argument, NULL, 's'}, {"service-ca", required_argument, NULL, 'c'},
		{"token", required_argument, NULL, 't'},   {"devices", required_argument, NULL, 'd'},
		{"threads", required_argument, NULL, 'n'}, {"seconds", required_argument, NULL, 'S'},
		{"connections", required_argument, NULL, 'C'}, {"service-pid", required_argument, NULL, 'P'}, {0},
	};
	uint32_t threads = 8, seconds = 10, nd = 64;
	rp_error err = RP_ERROR_INIT;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': service = optarg; break;
		case 'c': ca_file = optarg; break;
		case 't': token = optarg; break;
		case 'd': if (rp_parse_u32(optarg, 1, 100000, &nd, &err) < 0) return 2; break;
		case 'n': if (rp_parse_u32(optarg, 1, 256, &threads, &err) < 0) return 2; break;
		case 'S': if (rp_parse_u32(optarg, 1, 3600, &seconds, &err) < 0) return 2; break;
		case 'C': if (rp_parse_u32(optarg, 1, 2, &conns_per_attestation, &err) < 0) return 2; break;
		case 'P': if (rp_parse_u32(optarg, 1, UINT32_MAX, &service_pid, &err) < 0) return 2; break;
		default: return 2;
		}
	}
	if (!service || !ca_file || !token) {
		fprintf(stderr, "usage: attest-load --service URL --service-ca FILE --token TOKEN [--devices N] "
		                "[--threads T] [--seconds S]\n");
		return 2;
	}
	n_devices = nd;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* A tenant and product of its own; devices go to the product's Development group. */
	json_t *reply = NULL, *req = json_pack("{s:s}", "name", "attest-bench");
	long st = post("/v1/tenants", req, token, &reply);
	json_decref(req);
	_cleanup_free_ char *tenant = xstrdup(st == 201 ? json_string_value(json_object_get(reply, "tenant_id")) : "");
	json_decref(reply);
	_cleanup_free_ char *ppath = xasprintf("/v1/tenants/%s/products", tenant);
	req = json_pack("{s:s}", "name", "bench");
	st = post(ppath, req, token, &reply);
	json_decref(req);
	if (st != 201 || !tenant[0])
		return fprintf(stderr, "attest-load: creating the bench tenant and product failed (HTTP %ld)\n", st), 1;
	_cleanup_free_ char *gpath = xasprintf("/v1/tenants/%s/products/%s/device-groups", tenant,
	                                       json_string_value(json_object_get(reply, "product_id")));
	json_decref(reply);
	/* The product's default device groups (a GET). */
	{
		CURL *c = curl_easy_init();
		_cleanup_free_ char *url = xasprintf("%s%s", service, gpath);
		_cleanup_free_ char *auth = xasprintf("Authorization: Bearer %s", token);
		struct curl_slist *h = curl_slist_append(NULL, auth);
		struct sink k;
		rp_buf_init(&k.b);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &k);
		curl_easy_perform(c);
		curl_slist_free_all(h);
		curl_easy_cleanup(c);
		reply = rp_json_parse((const char *)k.b.data, k.b.len, 1 << 20, "groups", &err);
		rp_buf_free(&k.b);
	}
	const char *group = NULL;
	json_t *items = reply ? json_object_get(reply, "items") : NULL;
	for (size_t i = 0; i < json_array_size(items); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(items, i), "name")), "Development") == 0)
			group = json_string_value(json_object_get(json_array_get(items, i), "device_group_id"));
	if (!group)
		return fprintf(stderr, "attest-load: the product has no Development group\n"), 1;
	_cleanup_free_ char *gid = xstrdup(group);
	json_decref(reply);
	if (setup(gid, tenant) < 0)
		return 1;
	pthread_t *t = xcalloc(threads, sizeof(*t));
	atomic_store(&connects, 0);
	struct timespec a, b;
	double svc0 = service_pid ? proc_cpu_seconds(service_pid) : -1, self0 = self_cpu_seconds();
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (uint32_t i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	struct timespec sl = {.tv_sec = seconds};
	nanosleep(&sl, NULL);
	atomic_store(&stop_flag, true);
	for (uint32_t i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double svc1 = service_pid ? proc_cpu_seconds(service_pid) : -1, self1 = self_cpu_seconds();
	double n_done = atomic_load(&done) ? (double)atomic_load(&done) : 1.0;
	double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("{\"attestations\": %zu, \"failures\": %zu, \"seconds\": %.2f, \"per_second\": %.1f, \"devices\": %zu, "
	       "\"threads\": %u, \"connections\": %.2f, \"load_cpu_ms\": %.3f, \"service_cpu_ms\": %.3f}\n",
	       atomic_load(&done), atomic_load(&failures), secs, (double)atomic_load(&done) / secs, n_devices, threads,
	       atomic_load(&done) ? (double)atomic_load(&connects) / (double)atomic_load(&done) : 0.0,
	       1000.0 * (self1 - self0) / n_done, svc0 >= 0 && svc1 >= 0 ? 1000.0 * (svc1 - svc0) / n_done : -1.0);
	for (size_t i = 0; i < n_devices; i++) {
		EVP_PKEY_free(devices[i].key);
		free(devices[i].client_csr);
		free(devices[i].api_csr);
	}
	free(devices);
	free(t);
	curl_global_cleanup();
	return atomic_load(&done) > 0 ? 0 : 1;
}
