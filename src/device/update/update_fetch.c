/* HTTP transport of the update client over libcurl, with the size and speed bounds that stop the
 * endless-data and slow-retrieval attacks (TUF specification, section 1.5.2). */
#include "device/update/update_fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <curl/curl.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "device/boot/boot_fault.h"

#define UPDATE_FETCH_HASH_CHUNK (256u * 1024)

RP_DEFINE_CLEANUP(struct curl_slist, curl_slist_free_all)

void update_fetch_config_default(struct update_fetch_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->low_speed_limit = UPDATE_FETCH_DEFAULT_LOW_SPEED_LIMIT;
	cfg->low_speed_time = UPDATE_FETCH_DEFAULT_LOW_SPEED_TIME;
	cfg->connect_timeout = UPDATE_FETCH_DEFAULT_CONNECT_TIMEOUT;
}

void update_fetch_close(struct update_fetch_config *cfg)
{
	if (cfg->curl)
		curl_easy_cleanup(cfg->curl);
	cfg->curl = NULL;
}

int update_fetch_global_init(rp_error *err)
{
	static bool done;
	if (done)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return rp_error_set(err, RP_E_INTERNAL, "libcurl initialisation failed");
	done = true;
	return 0;
}

/* Where received bytes go: a bounded memory buffer or a file descriptor, with a hard cap. */
struct sink {
	rp_buf buf;
	int fd;           /* >= 0: write to the file */
	uint64_t written; /* bytes accepted in this response */
	uint64_t cap;     /* accept at most this many */
	bool over;        /* the peer sent more than CAP (endless data) */
	int write_errno;  /* a failed write (disk full) */
	CURL *curl;
	uint64_t range_from; /* > 0: a Range was asked for */
	uint64_t full_len;   /* the whole blob's length, for a server that ignores the Range */
	bool started;
	bool restarted;      /* the server answered the Range with the whole blob (200) */
	bool discard;        /* an error response: its body must not land in the download */
	rp_sha256 *hash;     /* when set: every byte written to FD, as it arrives */
	const char *content_type; /* request header line, or NULL */
};

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;
	if (!s->started) {
		s->started = true;
		long status = 0;
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
		s->discard = s->fd >= 0 && status != 200 && status != 206;
		if (s->range_from > 0 && status == 200 && s->fd >= 0) {
			/* The server ignored the Range: take the whole blob from the start. */
			if (lseek(s->fd, 0, SEEK_SET) < 0 || ftruncate(s->fd, 0) < 0) {
				s->write_errno = errno;
				return 0;
			}
			if (s->hash) {
				rp_sha256_free(s->hash);
				if (rp_sha256_init(s->hash, NULL) < 0) {
					s->write_errno = ENOMEM;
					return 0;
				}
			}
			s->cap = s->full_len;
			s->restarted = true;
		}
	}
	if (s->discard)
		return n;
	if (n > s->cap - s->written) {
		s->over = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (s->fd >= 0) {
		boot_fault_point("update.download.write"); /* power-cut tests: mid-download */
		if (rp_write_full(s->fd, ptr, n) < 0) {
			s->write_errno = errno;
			return 0;
		}
		if (s->hash)
			rp_sha256_update(s->hash, ptr, n);
	} else {
		rp_buf_append(&s->buf, ptr, n);
	}
	s->written += n;
	return n;
}

/* One handle per check, reset between requests: libcurl keeps the connection (and the TLS
 * session) alive, so an idle check costs one handshake, not one per metadata file. */
static CURL *easy_get(struct update_fetch_config *cfg, const char *url, rp_error *err)
{
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return rp_error_set(err, RP_E_INVALID, "%s: only http and https URLs are supported", url), NULL;
	if (strncmp(url, "https://", 8) == 0 && !cfg->ca_file)
		return rp_error_set(err, RP_E_INVALID, "%s: https needs the service CA (--service-ca FILE)", url), NULL;
	if (!cfg->curl && !(cfg->curl = curl_easy_init()))
		return rp_error_set(err, RP_E_INTERNAL, "curl_easy_init failed"), NULL;
	CURL *c = cfg->curl;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, cfg->connect_timeout);
	/* Slow retrieval: a peer that trickles bytes is dropped after low_speed_time seconds. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, cfg->low_speed_limit);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, cfg->low_speed_time);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "rampart-update/1");
	if (cfg->ca_file) {
		/* Pin the service CA: the system trust store is never consulted. */
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	}
	if (cfg->client_cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, cfg->client_cert);
		if (cfg->client_key)
			curl_easy_setopt(c, CURLOPT_SSLKEY, cfg->client_key);
	}
	return c;
}

/* Request headers: the credential, and EXTRA (may be NULL). */
static struct curl_slist *headers_new(const struct update_fetch_config *cfg, const char *extra)
{
	struct curl_slist *h = NULL;
	if (cfg->bearer_token) {
		_cleanup_free_ char *auth = xasprintf("Authorization: Bearer %s", cfg->bearer_token);
		h = curl_slist_append(h, auth);
	}
	if (extra)
		h = curl_slist_append(h, extra);
	return h;
}

/* Run the transfer and turn libcurl's and HTTP's outcomes into one error. */
static int perform(struct update_fetch_config *cfg, CURL *c, const char *url, struct sink *s, long *status,
                   rp_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	_cleanup_(curl_slist_free_allp) struct curl_slist *hdr = headers_new(cfg, s->content_type);
	if (hdr)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	CURLcode rc = curl_easy_perform(c);
	/* The handle outlives this frame's buffers: forget them. */
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	cfg->requests++;
	cfg->bytes_received += s->written;
	*status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (s->over)
		return rp_error_set(err, RP_E_LIMIT, "%s: the server sent more than the %" PRIu64 " bytes expected", url,
		                    s->cap);
	if (s->write_errno)
		return rp_error_set_errno(err, s->write_errno, "%s: writing the download", url);
	if (rc == CURLE_FILESIZE_EXCEEDED)
		return rp_error_set(err, RP_E_LIMIT, "%s: the server announced more than the %" PRIu64 " bytes expected",
		                    url, s->cap);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return rp_error_set(err, RP_E_UNAVAILABLE,
		                    "%s: transfer too slow (under %ld bytes/s for %ld s; slow-retrieval protection)", url,
		                    cfg->low_speed_limit, cfg->low_speed_time);
	if (rc != CURLE_OK && !(rc == CURLE_HTTP_RETURNED_ERROR))
		return rp_error_set(err, RP_E_UNAVAILABLE, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	if (*status == 404)
		return rp_error_set(err, RP_E_NOT_FOUND, "%s: not found (HTTP 404)", url);
	return 0;
}

int update_fetch_buffer(struct update_fetch_config *cfg, const char *url, size_t max_len, uint8_t **data,
                        size_t *len, rp_error *err)
{
	CURL *c = easy_get(cfg, url, err);
	if (!c)
		return -1;
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_len);
	struct sink s = {.fd = -1, .cap = max_len, .curl = c};
	rp_buf_init(&s.buf);
	long status;
	if (perform(cfg, c, url, &s, &status, err) < 0) {
		rp_buf_free(&s.buf);
		return -1;
	}
	if (status != 200) {
		rp_buf_free(&s.buf);
		return rp_error_set(err, RP_E_UNAVAILABLE, "%s: HTTP status %ld", url, status);
	}
	rp_buf_append(&s.buf, "", 1);
	*len = s.buf.len - 1;
	*data = s.buf.data;
	return 0;
}

/* Hash the first HAVE bytes already in FD (a download being resumed), once. */
static int hash_prefix(int fd, uint64_t have, rp_sha256 *h, const char *partial, rp_error *err)
{
	(void)posix_fadvise(fd, 0, (off_t)have, POSIX_FADV_SEQUENTIAL);
	_cleanup_free_ uint8_t *buf = xmalloc(UPDATE_FETCH_HASH_CHUNK);
	for (uint64_t off = 0; off < have;) {
		size_t want = have - off < UPDATE_FETCH_HASH_CHUNK ? (size_t)(have - off) : UPDATE_FETCH_HASH_CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return rp_error_set_errno(err, errno, "reading %s", partial);
		if (n == 0)
			return rp_error_set(err, RP_E_IO, "%s shrank while being read", partial);
		rp_sha256_update(h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	return 0;
}

static int fetch_file(struct update_fetch_config *cfg, const char *url, const char *partial, uint64_t expected_len,
                      rp_sha256 *hash, rp_error *err)
{
	_cleanup_close_ int fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening %s", partial);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return rp_error_set_errno(err, errno, "stat %s", partial);
	uint64_t have = (uint64_t)st.st_size;
	if (have > expected_len) {
		/* Longer than the signed length: nothing in it can be right. */
		if (ftruncate(fd, 0) < 0)
			return rp_error_set_errno(err, errno, "truncating %s", partial);
		have = 0;
	}
	if (hash && have > 0 && hash_prefix(fd, have, hash, partial, err) < 0)
		return -1;
	/* Two rounds at most: a server that ignores or refuses the Range gets one full download. */
	for (int round = 0; have < expected_len && round < 2; round++) {
		CURL *c = easy_get(cfg, url, err);
		if (!c)
			return -1;
		char range[48];
		if (have > 0) {
			snprintf(range, sizeof(range), "%" PRIu64 "-", have);
			curl_easy_setopt(c, CURLOPT_RANGE, range);
		}
		if (lseek(fd, (off_t)have, SEEK_SET) < 0)
			return rp_error_set_errno(err, errno, "seeking in %s", partial);
		/* Bigger receive pieces than libcurl's 16 KiB: a fraction of the write and hash calls for
		 * a blob of many MiB, still a bounded buffer. */
		curl_easy_setopt(c, CURLOPT_BUFFERSIZE, (long)UPDATE_FETCH_HASH_CHUNK);
		struct sink s = {.fd = fd, .cap = expected_len - have, .curl = c, .range_from = have,
		                 .full_len = expected_len, .hash = hash};
		long status;
		int r = perform(cfg, c, url, &s, &status, err);
		if (s.restarted) {
			rp_info("%s ignored the Range request; downloaded from the start", url);
			have = 0;
		}
		if (r < 0) {
			/* Keep what arrived for the next attempt (resume), unless it overflowed. */
			if (err && err->code == RP_E_LIMIT && ftruncate(fd, (off_t)have) < 0)
				rp_warn("could not trim %s", partial);
			return -1;
		}
		if (have > 0 && status == 416) {
			if (ftruncate(fd, 0) < 0)
				return rp_error_set_errno(err, errno, "truncating %s", partial);
			have = 0;
			if (hash) {
				rp_sha256_free(hash);
				if (rp_sha256_init(hash, err) < 0)
					return -1;
			}
			continue;
		}
		if (status != 200 && status != 206)
			return rp_error_set(err, RP_E_UNAVAILABLE, "%s: HTTP status %ld", url, status);
		have += s.written;
		if (have < expected_len)
			return rp_error_set(err, RP_E_UNAVAILABLE,
			                    "%s: the transfer ended after %" PRIu64 " of %" PRIu64 " bytes (will resume)", url,
			                    have, expected_len);
	}
	if (have != expected_len)
		return rp_error_set(err, RP_E_UNAVAILABLE, "%s: download incomplete", url);
	/* No fsync. The signed hash is taken while the bytes arrive (and over a kept prefix when a
	 * later run resumes or re-checks the file), not again right before install: what protects the
	 * install is the package signature it checks over the bytes it reads from this file, so a
	 * power cut that damages it costs a new download, never an install of wrong bytes. The file is
	 * deleted once installed, usually before writeback: only the slot copy has to reach the flash. */
	return 0;
}

int update_fetch_file(struct update_fetch_config *cfg, const char *url, const char *partial, uint64_t expected_len,
                      rp_error *err)
{
	return fetch_file(cfg, url, partial, expected_len, NULL, err);
}

int update_fetch_file_hashed(struct update_fetch_config *cfg, const char *url, const char *partial,
                             uint64_t expected_len, uint8_t sha256[RP_SHA256_LEN], rp_error *err)
{
	rp_sha256 h = {0};
	if (rp_sha256_init(&h, err) < 0)
		return -1;
	int rc = fetch_file(cfg, url, partial, expected_len, &h, err);
	if (rc == 0)
		rc = rp_sha256_final(&h, sha256, err);
	rp_sha256_free(&h);
	return rc;
}

int update_fetch_post_json(struct update_fetch_config *cfg, const char *url, const char *body, rp_error *err)
{
	CURL *c = easy_get(cfg, url, err);
	if (!c)
		return -1;
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	struct sink s = {.fd = -1, .cap = 64 * 1024, .curl = c, .content_type = "Content-Type: application/json"};
	rp_buf_init(&s.buf);
	long status;
	int r = perform(cfg, c, url, &s, &status, err);
	rp_buf_free(&s.buf);
	if (r < 0)
		return -1;
	if (status < 200 || status > 299)
		return rp_error_set(err, RP_E_UNAVAILABLE, "%s: HTTP status %ld", url, status);
	return 0;
}
