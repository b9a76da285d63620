/* Payload filesystem reader over a package's sealed copy, through libsquashfs. Every entry is
 * checked before anything uses it: Azure Sphere was attacked through device nodes in its package
 * filesystem, and a package can be a zip bomb, so nothing here trusts inode or directory data. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <sqfs/compressor.h>
#include <sqfs/data_reader.h>
#include <sqfs/dir.h>
#include <sqfs/dir_reader.h>
#include <sqfs/error.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/super.h>

#include "common/fileio.h"
#include "common/xalloc.h"
#include "pkg/payload_reader.h"

/* A read-only sqfs_file_t over the payload section: reads past its end fail. */
struct mem_file {
	sqfs_file_t base;
	const uint8_t *data;
	size_t len;
};

static int mem_read_at(sqfs_file_t *f, sqfs_u64 off, void *buf, size_t size)
{
	struct mem_file *m = (struct mem_file *)f;
	if (off > m->len || size > m->len - off)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	memcpy(buf, m->data + off, size);
	return 0;
}
static int mem_write_at(sqfs_file_t *f, sqfs_u64 off, const void *buf, size_t size)
{
	(void)f, (void)off, (void)buf, (void)size;
	return SQFS_ERROR_IO;
}
static sqfs_u64 mem_get_size(const sqfs_file_t *f) { return ((const struct mem_file *)f)->len; }
static int mem_truncate(sqfs_file_t *f, sqfs_u64 size)
{
	(void)f, (void)size;
	return SQFS_ERROR_IO;
}
static void mem_destroy(sqfs_object_t *o) { (void)o; }

struct sqfs_ctx {
	struct mem_file file;
	sqfs_super_t super;
	sqfs_compressor_t *cmp;
	sqfs_dir_reader_t *dr;
	sqfs_data_reader_t *data;
	sqfs_inode_generic_t *root;
};

static void ctx_close(struct sqfs_ctx *c)
{
	sqfs_free(c->root);
	sqfs_destroy(c->data);
	sqfs_destroy(c->dr);
	sqfs_destroy(c->cmp);
	memset(c, 0, sizeof(*c));
}

static int sqfs_fail(rp_error *err, int ret, const char *what)
{
	return rp_error_set(err, ret == SQFS_ERROR_ALLOC ? RP_E_INTERNAL : RP_E_INVALID,
	                    "%s: squashfs is corrupt (libsquashfs error %d)", what, ret);
}

static int ctx_open(struct sqfs_ctx *c, const struct package *pkg, rp_error *err)
{
	memset(c, 0, sizeof(*c));
	c->file.base.base.destroy = mem_destroy;
	c->file.base.read_at = mem_read_at;
	c->file.base.write_at = mem_write_at;
	c->file.base.get_size = mem_get_size;
	c->file.base.truncate = mem_truncate;
	c->file.data = pkg->data + pkg->payload_off;
	c->file.len = (size_t)pkg->payload_len;
	int ret = sqfs_super_read(&c->super, &c->file.base);
	if (ret)
		return rp_error_set(err, RP_E_INVALID, "payload is not a valid squashfs image (libsquashfs error %d)", ret);
	const sqfs_super_t *s = &c->super;
	if (s->compression_id != SQFS_COMP_ZSTD)
		return rp_error_set(err, RP_E_UNSUPPORTED, "squashfs uses compressor %u; only zstd is accepted",
		                    s->compression_id);
	/* The superblock must not claim more than the section holds. */
	if (s->bytes_used > c->file.len)
		return rp_error_set(err, RP_E_INVALID, "squashfs superblock claims %llu bytes but the payload section has %zu",
		                    (unsigned long long)s->bytes_used, c->file.len);
	if (s->inode_table_start >= s->bytes_used || s->directory_table_start >= s->bytes_used ||
	    s->id_table_start >= s->bytes_used)
		return rp_error_set(err, RP_E_INVALID, "squashfs superblock points outside the image");
	if (s->inode_count > pkg->limits.max_files + 1)
		return rp_error_set(err, RP_E_LIMIT, "payload has %u inodes, more than the limit of %u files",
		                    s->inode_count, pkg->limits.max_files);
	/* libsquashfs allocates the fragment table from this count before reading it: bound it by the
	 * inode count (each file has at most one fragment) and by the image size (16 bytes each). */
	if (s->fragment_entry_count > s->inode_count || (uint64_t)s->fragment_entry_count * 16 > s->bytes_used)
		return rp_error_set(err, RP_E_INVALID, "squashfs superblock claims %u fragments for %u inodes",
		                    s->fragment_entry_count, s->inode_count);
	/* Extended attributes could carry file capabilities or security labels: none are allowed. */
	if (s->xattr_id_table_start != 0xFFFFFFFFFFFFFFFFull && !(s->flags & SQFS_FLAG_NO_XATTRS))
		return rp_error_set(err, RP_E_INVALID, "payload has extended attributes, which are not allowed");
	c->file.len = (size_t)s->bytes_used;
	sqfs_compressor_config_t cfg;
	if (sqfs_compressor_config_init(&cfg, SQFS_COMP_ZSTD, s->block_size, SQFS_COMP_FLAG_UNCOMPRESS) != 0 ||
	    sqfs_compressor_create(&cfg, &c->cmp) != 0)
		return rp_error_set(err, RP_E_INVALID, "squashfs block size %u is not usable", s->block_size);
	c->dr = sqfs_dir_reader_create(s, c->cmp, &c->file.base, 0);
	c->data = sqfs_data_reader_create(&c->file.base, s->block_size, c->cmp, 0);
	if (!c->dr || !c->data)
		return rp_error_set(err, RP_E_INTERNAL, "creating squashfs readers");
	ret = sqfs_data_reader_load_fragment_table(c->data, s);
	if (ret)
		return sqfs_fail(err, ret, "reading fragment table");
	/* libsquashfs can leave a freed pointer in the output on failure: only keep it on success. */
	sqfs_inode_generic_t *root = NULL;
	ret = sqfs_dir_reader_get_root_inode(c->dr, &root);
	if (ret)
		return sqfs_fail(err, ret, "reading root inode");
	c->root = root;
	if (c->root->base.type != SQFS_INODE_DIR && c->root->base.type != SQFS_INODE_EXT_DIR)
		return rp_error_set(err, RP_E_INVALID, "squashfs root is not a directory");
	return 0;
}

/* One directory entry, copied out so the directory reader can move on. */
struct dirent_copy {
	char *name;
	sqfs_inode_generic_t *inode;
};

struct walk {
	struct sqfs_ctx *c;
	const struct package_limits *lim;
	uint8_t *seen; /* bitmap by inode number: a second sighting is a hard link */
	uint32_t inodes;
	struct package_payload_summary sum;
	payload_reader_visit_fn visit;
	void *ud;
	bool extract;
	uint64_t written; /* bytes actually produced by extraction */
};

static bool inode_is_dir(const sqfs_inode_generic_t *in)
{
	return in->base.type == SQFS_INODE_DIR || in->base.type == SQFS_INODE_EXT_DIR;
}

static int read_entries(struct walk *w, const sqfs_inode_generic_t *dir, const char *path, struct dirent_copy **out,
                        size_t *n, rp_error *err)
{
	*out = NULL;
	*n = 0;
	int ret = sqfs_dir_reader_open_dir(w->c->dr, dir, 0);
	if (ret)
		return sqfs_fail(err, ret, path[0] ? path : "/");
	size_t cap = 0;
	for (;;) {
		sqfs_dir_entry_t *ent = NULL;
		ret = sqfs_dir_reader_read(w->c->dr, &ent);
		if (ret > 0)
			break;
		if (ret < 0)
			return sqfs_fail(err, ret, path[0] ? path : "/");
		/* Budget check before allocating: a directory cannot list more than the file limit. */
		if (w->inodes + *n >= w->lim->max_files) {
			sqfs_free(ent);
			return rp_error_set(err, RP_E_LIMIT, "payload has more than %u files (limit)", w->lim->max_files);
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xreallocarray(*out, cap, sizeof(**out));
		}
		size_t nlen = (size_t)ent->size + 1;
		(*out)[*n].name = xstrndup((const char *)ent->name, nlen);
		(*out)[*n].inode = NULL;
		bool nul = memchr(ent->name, 0, nlen) != NULL;
		sqfs_free(ent);
		(*n)++;
		if (nul)
			return rp_error_set(err, RP_E_INVALID, "a name in directory '/%s' contains a NUL byte", path);
		sqfs_inode_generic_t *inode = NULL;
		ret = sqfs_dir_reader_get_inode(w->c->dr, &inode);
		if (ret)
			return sqfs_fail(err, ret, (*out)[*n - 1].name);
		(*out)[*n - 1].inode = inode;
	}
	return 0;
}

static void free_entries(struct dirent_copy *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].name);
		sqfs_free(e[i].inode);
	}
	free(e);
}

/* A symlink may use ".." only as leading components, and those may not climb above the root
 * relative to the link's directory (DEPTH components below the root). Once a path descends it
 * never climbs again, so it cannot climb out through another symlink either. */
static int check_symlink(const char *path, const char *target, size_t tlen, unsigned depth, rp_error *err)
{
	if (tlen == 0 || memchr(target, 0, tlen))
		return rp_error_set(err, RP_E_INVALID, "symlink '%s' has an empty or NUL-containing target", path);
	if (target[0] == '/')
		return rp_error_set(err, RP_E_INVALID, "symlink '%s' points to the absolute path '%s'", path, target);
	long d = depth;
	bool descended = false;
	for (const char *p = target; *p;) {
		const char *slash = strchr(p, '/');
		size_t clen = slash ? (size_t)(slash - p) : strlen(p);
		if (clen == 2 && p[0] == '.' && p[1] == '.') {
			if (descended)
				return rp_error_set(err, RP_E_INVALID, "symlink '%s' target '%s' uses '..' after a name", path,
				                    target);
			if (--d < 0)
				return rp_error_set(err, RP_E_INVALID, "symlink '%s' points outside the package ('%s')", path,
				                    target);
		} else if (clen > 0 && !(clen == 1 && p[0] == '.')) {
			descended = true;
		}
		p += clen + (slash ? 1 : 0);
	}
	return 0;
}

static const char *type_word(unsigned type)
{
	switch (type) {
	case SQFS_INODE_BDEV:
	case SQFS_INODE_EXT_BDEV: return "a block device node";
	case SQFS_INODE_CDEV:
	case SQFS_INODE_EXT_CDEV: return "a character device node";
	case SQFS_INODE_FIFO:
	case SQFS_INODE_EXT_FIFO: return "a FIFO";
	case SQFS_INODE_SOCKET:
	case SQFS_INODE_EXT_SOCKET: return "a socket";
	default: return "an unknown inode type";
	}
}

static int extract_file(struct walk *w, int dirfd, const char *name, const char *path,
                        const sqfs_inode_generic_t *in, uint64_t size, rp_error *err)
{
	mode_t mode = (in->base.mode & 0100) ? 0755 : 0644;
	_cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "creating '%s'", path);
	_cleanup_free_ uint8_t *buf = xmalloc(w->c->super.block_size);
	uint64_t off = 0;
	while (off < size) {
		sqfs_u32 want = (sqfs_u32)(size - off < w->c->super.block_size ? size - off : w->c->super.block_size);
		sqfs_s32 got = sqfs_data_reader_read(w->c->data, in, off, buf, want);
		if (got < 0)
			return sqfs_fail(err, got, path);
		if (got == 0)
			return rp_error_set(err, RP_E_INVALID, "'%s' ends before its declared size", path);
		w->written += (uint64_t)got;
		if (w->written > w->lim->max_total_bytes)
			return rp_error_set(err, RP_E_LIMIT, "extraction produced more than %llu bytes (limit)",
			                    (unsigned long long)w->lim->max_total_bytes);
		if (rp_write_full(fd, buf, (size_t)got) < 0)
			return rp_error_set_errno(err, errno, "writing '%s'", path);
		off += (uint64_t)got;
	}
	if (fchmod(fd, mode) < 0)
		return rp_error_set_errno(err, errno, "setting mode of '%s'", path);
	return 0;
}

static int walk_dir(struct walk *w, const sqfs_inode_generic_t *dir, char *path, size_t plen, unsigned depth,
                    int dirfd, rp_error *err);

static int walk_entry(struct walk *w, struct dirent_copy *e, char *path, size_t plen, unsigned depth, int dirfd,
                      rp_error *err)
{
	const sqfs_inode_generic_t *in = e->inode;
	size_t nlen = strlen(e->name);
	if (nlen == 0 || strchr(e->name, '/') || strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0)
		return rp_error_set(err, RP_E_INVALID, "payload contains an invalid name '%s' in '/%s'", e->name, path);
	size_t newlen = plen + (plen ? 1 : 0) + nlen;
	if (newlen > w->lim->max_path_len)
		return rp_error_set(err, RP_E_LIMIT, "a path under '/%s' is longer than %u bytes (limit)", path,
		                    w->lim->max_path_len);
	if (plen)
		path[plen] = '/';
	memcpy(path + plen + (plen ? 1 : 0), e->name, nlen + 1);
	const char *p = path;

	uint32_t ino = in->base.inode_number;
	if (ino == 0 || ino > w->c->super.inode_count)
		return rp_error_set(err, RP_E_INVALID, "'%s' has inode number %u outside the image's %u inodes", p, ino,
		                    w->c->super.inode_count);
	if (w->seen[ino / 8] & (1u << (ino % 8)))
		return rp_error_set(err, RP_E_INVALID, "'%s' is a hard link (inode %u appears twice); hard links are not "
		                    "allowed", p, ino);
	w->seen[ino / 8] |= (uint8_t)(1u << (ino % 8));
	if (++w->inodes > w->lim->max_files)
		return rp_error_set(err, RP_E_LIMIT, "payload has more than %u files (limit)", w->lim->max_files);
	if (in->base.mode & 07000)
		return rp_error_set(err, RP_E_INVALID, "'%s' has the %s bit set; setuid, setgid and sticky bits are not "
		                    "allowed", p, (in->base.mode & 04000) ? "setuid" : (in->base.mode & 02000) ? "setgid"
		                                                                                             : "sticky");
	sqfs_u32 xattr = 0xFFFFFFFF;
	if (sqfs_inode_get_xattr_index(in, &xattr) == 0 && xattr != 0xFFFFFFFF)
		return rp_error_set(err, RP_E_INVALID, "'%s' has extended attributes, which are not allowed", p);

	struct payload_entry pe = {.path = p, .mode = in->base.mode & 0777};
	_cleanup_free_ char *target = NULL;
	unsigned t = in->base.type;
	unsigned fmt = in->base.mode & SQFS_INODE_MODE_MASK;
	if (t == SQFS_INODE_DIR || t == SQFS_INODE_EXT_DIR) {
		if (fmt != SQFS_INODE_MODE_DIR)
			return rp_error_set(err, RP_E_INVALID, "'%s': mode disagrees with inode type", p);
		pe.type = PAYLOAD_ENTRY_DIR;
		w->sum.directories++;
	} else if (t == SQFS_INODE_FILE || t == SQFS_INODE_EXT_FILE) {
		if (fmt != SQFS_INODE_MODE_REG)
			return rp_error_set(err, RP_E_INVALID, "'%s': mode disagrees with inode type", p);
		if (t == SQFS_INODE_EXT_FILE && in->data.file_ext.nlink > 1)
			return rp_error_set(err, RP_E_INVALID, "'%s' is a hard link (link count %u); hard links are not "
			                    "allowed", p, in->data.file_ext.nlink);
		sqfs_u64 size = 0;
		if (sqfs_inode_get_file_size(in, &size) != 0)
			return rp_error_set(err, RP_E_INVALID, "'%s': unreadable file size", p);
		pe.type = PAYLOAD_ENTRY_FILE;
		pe.size = size;
		w->sum.files++;
		if (size > w->lim->max_total_bytes || w->sum.total_bytes + size > w->lim->max_total_bytes)
			return rp_error_set(err, RP_E_LIMIT, "payload files add up to more than %llu bytes (limit) at '%s'",
			                    (unsigned long long)w->lim->max_total_bytes, p);
		w->sum.total_bytes += size;
	} else if (t == SQFS_INODE_SLINK || t == SQFS_INODE_EXT_SLINK) {
		if (fmt != SQFS_INODE_MODE_LNK)
			return rp_error_set(err, RP_E_INVALID, "'%s': mode disagrees with inode type", p);
		size_t tlen = t == SQFS_INODE_SLINK ? in->data.slink.target_size : in->data.slink_ext.target_size;
		if (tlen > in->payload_bytes_used || tlen > 4095)
			return rp_error_set(err, RP_E_INVALID, "symlink '%s' has a bad target length", p);
		target = xstrndup((const char *)in->extra, tlen);
		if (strlen(target) != tlen || check_symlink(p, target, tlen, depth, err) < 0)
			return strlen(target) != tlen ? rp_error_set(err, RP_E_INVALID, "symlink '%s' target has a NUL", p)
			                              : -1;
		pe.type = PAYLOAD_ENTRY_SYMLINK;
		pe.link_target = target;
		w->sum.symlinks++;
	} else {
		return rp_error_set(err, RP_E_INVALID, "'%s' is %s; packages may only contain files, directories and "
		                    "symlinks", p, type_word(t));
	}
	if (w->visit && w->visit(w->ud, &pe, err) < 0)
		return -1;

	if (pe.type == PAYLOAD_ENTRY_DIR) {
		if (depth + 1 > w->lim->max_depth)
			return rp_error_set(err, RP_E_LIMIT, "'%s' is nested deeper than %u directories (limit)", p,
			                    w->lim->max_depth);
		_cleanup_close_ int sub = -1;
		if (w->extract) {
			if (mkdirat(dirfd, e->name, 0700) < 0)
				return rp_error_set_errno(err, errno, "creating directory '%s'", p);
			sub = openat(dirfd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				return rp_error_set_errno(err, errno, "opening directory '%s'", p);
		}
		if (walk_dir(w, in, path, newlen, depth + 1, sub, err) < 0)
			return -1;
		if (w->extract && fchmod(sub, 0755) < 0)
			return rp_error_set_errno(err, errno, "setting mode of '%s'", p);
	} else if (w->extract && pe.type == PAYLOAD_ENTRY_FILE) {
		if (extract_file(w, dirfd, e->name, p, in, pe.size, err) < 0)
			return -1;
	} else if (w->extract && pe.type == PAYLOAD_ENTRY_SYMLINK) {
		if (symlinkat(target, dirfd, e->name) < 0)
			return rp_error_set_errno(err, errno, "creating symlink '%s'", p);
	}
	return 0;
}

static int walk_dir(struct walk *w, const sqfs_inode_generic_t *dir, char *path, size_t plen, unsigned depth,
                    int dirfd, rp_error *err)
{
	struct dirent_copy *ents = NULL;
	size_t n = 0;
	int ret = read_entries(w, dir, path, &ents, &n, err);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		if (i > 0 && strcmp(ents[i - 1].name, ents[i].name) >= 0)
			ret = rp_error_set(err, RP_E_INVALID, "directory '/%s' has duplicate or unsorted names ('%s')", path,
			                   ents[i].name);
		else
			ret = walk_entry(w, &ents[i], path, plen, depth, dirfd, err);
		path[plen] = '\0';
	}
	free_entries(ents, n);
	return ret;
}

static int walk(const struct package *pkg, const struct package_limits *lim, payload_reader_visit_fn visit, void *ud,
                int extract_fd, struct package_payload_summary *sum, rp_error *err)
{
	struct sqfs_ctx c;
	int ret = ctx_open(&c, pkg, err);
	if (ret == 0) {
		struct walk w = {.c = &c, .lim = lim ? lim : &pkg->limits, .visit = visit, .ud = ud,
		                 .extract = extract_fd >= 0};
		w.seen = xcalloc((size_t)c.super.inode_count / 8 + 1, 1);
		_cleanup_free_ char *path = xmalloc((size_t)w.lim->max_path_len + 1);
		path[0] = '\0';
		uint32_t rino = c.root->base.inode_number;
		if (rino == 0 || rino > c.super.inode_count)
			ret = rp_error_set(err, RP_E_INVALID, "root inode number %u is out of range", rino);
		else if (c.root->base.mode & 07000)
			ret = rp_error_set(err, RP_E_INVALID, "root directory has special mode bits");
		else {
			w.seen[rino / 8] |= (uint8_t)(1u << (rino % 8));
			w.inodes = 1;
			w.sum.directories = 1;
			ret = walk_dir(&w, c.root, path, 0, 0, extract_fd, err);
		}
		if (ret == 0 && sum)
			*sum = w.sum;
		free(w.seen);
	}
	ctx_close(&c);
	return ret;
}

int payload_reader_check(struct package *pkg, rp_error *err)
{
	return walk(pkg, NULL, NULL, NULL, -1, &pkg->payload, err);
}

int payload_reader_list(const struct package *pkg, payload_reader_visit_fn visit, void *ud, rp_error *err)
{
	return walk(pkg, NULL, visit, ud, -1, NULL, err);
}

int payload_reader_extract(const struct package *pkg, int dirfd, const struct package_limits *limits, rp_error *err)
{
	if (dirfd < 0)
		return rp_error_set(err, RP_E_INTERNAL, "extract needs a directory fd");
	if (walk(pkg, limits, NULL, NULL, dirfd, NULL, err) < 0)
		return rp_error_prefix(err, "extracting payload");
	return 0;
}

int payload_reader_read_file(const struct package *pkg, const char *path, size_t max, uint8_t **buf, size_t *len,
                             rp_error *err)
{
	struct sqfs_ctx c;
	int ret = -1;
	sqfs_inode_generic_t *cur = NULL;
	uint8_t *out = NULL;
	_cleanup_free_ char *copy = xstrdup(path);
	if (ctx_open(&c, pkg, err) < 0)
		goto out;
	/* Resolve one name at a time, never following symlinks or "..". */
	const sqfs_inode_generic_t *dir = c.root;
	char *save = NULL;
	for (char *name = strtok_r(copy, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			rp_error_set(err, RP_E_INVALID, "path '%s' may not contain '.' or '..'", path);
			goto out;
		}
		if (!inode_is_dir(dir)) {
			rp_error_set(err, RP_E_NOT_FOUND, "'%s' not found in the package payload", path);
			goto out;
		}
		sqfs_inode_generic_t *next = NULL;
		int r = sqfs_dir_reader_open_dir(c.dr, dir, 0);
		while (r == 0) {
			sqfs_dir_entry_t *ent = NULL;
			r = sqfs_dir_reader_read(c.dr, &ent);
			if (r != 0)
				break;
			bool match = (size_t)ent->size + 1 == strlen(name) && memcmp(ent->name, name, strlen(name)) == 0;
			sqfs_free(ent);
			if (match) {
				sqfs_inode_generic_t *found = NULL;
				r = sqfs_dir_reader_get_inode(c.dr, &found);
				if (r == 0)
					next = found;
				break;
			}
		}
		if (r > 0 || (r == 0 && !next)) {
			rp_error_set(err, RP_E_NOT_FOUND, "'%s' not found in the package payload", path);
			goto out;
		}
		if (r) {
			sqfs_fail(err, r, path);
			goto out;
		}
		sqfs_free(cur);
		cur = next;
		dir = cur;
	}
	if (!cur || (cur->base.type != SQFS_INODE_FILE && cur->base.type != SQFS_INODE_EXT_FILE)) {
		rp_error_set(err, RP_E_INVALID, "'%s' in the package payload is not a regular file", path);
		goto out;
	}
	sqfs_u64 size = 0;
	if (sqfs_inode_get_file_size(cur, &size) != 0 || size > max) {
		rp_error_set(err, RP_E_LIMIT, "'%s' in the package payload is %llu bytes, more than %zu", path,
		             (unsigned long long)size, max);
		goto out;
	}
	out = xmalloc((size_t)size + 1);
	size_t off = 0;
	while (off < size) {
		sqfs_s32 got = sqfs_data_reader_read(c.data, cur, off, out + off, (sqfs_u32)(size - off));
		if (got <= 0) {
			if (got < 0)
				sqfs_fail(err, got, path);
			else
				rp_error_set(err, RP_E_INVALID, "'%s' ends before its declared size", path);
			goto out;
		}
		off += (size_t)got;
	}
	out[size] = '\0';
	*len = (size_t)size;
	*buf = steal_ptr(out);
	ret = 0;
out:
	free(out);
	sqfs_free(cur);
	ctx_close(&c);
	return ret;
}
