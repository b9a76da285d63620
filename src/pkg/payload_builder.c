/* Payload builder: lays out a squashfs image with libsquashfs's block processor, directory
 * writer, id table and fragment table, the same sequence squashfs-tools-ng's own writer follows:
 * data blocks, then inodes (children before parents), directory table, fragment and id tables,
 * and finally the superblock. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/dir_writer.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>

#include "common/fileio.h"
#include "common/xalloc.h"
#include "pkg/package_format.h"
#include "pkg/payload_builder.h"

struct node {
	char *name;
	bool is_dir, executable;
	char *src; /* regular files: where the bytes come from */
	struct node *children; /* directories: sorted on write */
	size_t nchildren, cap;
	struct node *parent;
	sqfs_inode_generic_t *inode;
	sqfs_u32 ino;
	sqfs_u64 ref;
};

struct payload_builder {
	struct node root;
	size_t count;
};

struct payload_builder *payload_builder_new(void)
{
	struct payload_builder *b = xcalloc(1, sizeof(*b));
	b->root.is_dir = true;
	b->root.name = xstrdup("");
	return b;
}

static void node_free(struct node *n)
{
	for (size_t i = 0; i < n->nchildren; i++)
		node_free(&n->children[i]);
	free(n->children);
	free(n->name);
	free(n->src);
	sqfs_free(n->inode);
}

void payload_builder_free(struct payload_builder *b)
{
	if (!b)
		return;
	node_free(&b->root);
	free(b);
}

static struct node *child(struct node *dir, const char *name, size_t len)
{
	for (size_t i = 0; i < dir->nchildren; i++)
		if (strlen(dir->children[i].name) == len && memcmp(dir->children[i].name, name, len) == 0)
			return &dir->children[i];
	return NULL;
}

static bool name_ok(const char *name, size_t len)
{
	return len > 0 && len <= 255 && !(len == 1 && name[0] == '.') && !(len == 2 && name[0] == '.' && name[1] == '.') &&
	       !memchr(name, '\0', len);
}

/* Children live in a growable array, so pointers to them are only used until the next insert. */
static struct node *add_child(struct payload_builder *b, struct node *dir, const char *name, size_t len)
{
	if (dir->nchildren == dir->cap) {
		dir->cap = dir->cap ? dir->cap * 2 : 8;
		dir->children = xreallocarray(dir->children, dir->cap, sizeof(*dir->children));
		for (size_t i = 0; i < dir->nchildren; i++)
			for (size_t k = 0; k < dir->children[i].nchildren; k++)
				dir->children[i].children[k].parent = &dir->children[i];
	}
	struct node *n = &dir->children[dir->nchildren++];
	memset(n, 0, sizeof(*n));
	n->name = xstrndup(name, len);
	n->parent = dir;
	b->count++;
	return n;
}

static int add_path(struct payload_builder *b, const char *dest, const char *src, bool is_dir, bool executable,
                    rp_error *err)
{
	struct node *dir = &b->root;
	const char *p = dest;
	while (*p == '/')
		p++;
	if (!*p)
		return rp_error_set(err, RP_E_INVALID, "payload path '%s' is empty", dest);
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (!name_ok(p, len))
			return rp_error_set(err, RP_E_INVALID, "payload path '%s' has an invalid component", dest);
		bool last = !slash || !slash[1];
		struct node *n = child(dir, p, len);
		if (last) {
			if (n && !(is_dir && n->is_dir))
				return rp_error_set(err, RP_E_EXISTS, "'%s' is added to the payload twice", dest);
			if (!n) {
				n = add_child(b, dir, p, len);
				n->is_dir = is_dir;
				n->executable = executable;
				n->src = src ? xstrdup(src) : NULL;
			}
			return 0;
		}
		if (n && !n->is_dir)
			return rp_error_set(err, RP_E_EXISTS, "'%s' is under a file already in the payload", dest);
		if (!n) {
			n = add_child(b, dir, p, len);
			n->is_dir = true;
		}
		dir = n;
		p = slash + 1;
	}
}

int payload_builder_add_file(struct payload_builder *b, const char *dest, const char *src, bool executable,
                             rp_error *err)
{
	struct stat st;
	if (stat(src, &st) < 0)
		return rp_error_set_errno(err, errno, "%s", src);
	if (!S_ISREG(st.st_mode))
		return rp_error_set(err, RP_E_INVALID, "%s is not a regular file", src);
	return add_path(b, dest, src, false, executable, err);
}

static int add_tree(struct payload_builder *b, int dirfd, const char *src_dir, const char *prefix, unsigned depth,
                    rp_error *err)
{
	if (depth > PACKAGE_DEFAULT_MAX_DEPTH)
		return rp_error_set(err, RP_E_LIMIT, "%s is nested too deeply", src_dir);
	int fd = openat(dirfd, src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "opening directory %s", src_dir);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return rp_error_set_errno(err, errno, "reading directory %s", src_dir);
	}
	int ret = 0;
	struct dirent *de;
	while (ret == 0 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		_cleanup_free_ char *dest = prefix[0] ? xasprintf("%s/%s", prefix, de->d_name) : xstrdup(de->d_name);
		_cleanup_free_ char *src = xasprintf("%s/%s", src_dir, de->d_name);
		if (fstatat(dirfd, src, &st, AT_SYMLINK_NOFOLLOW) < 0)
			ret = rp_error_set_errno(err, errno, "%s", src);
		else if (S_ISDIR(st.st_mode))
			ret = add_path(b, dest, NULL, true, false, err) < 0 ? -1 : add_tree(b, dirfd, src, dest, depth + 1, err);
		else if (S_ISREG(st.st_mode))
			ret = add_path(b, dest, src, false, (st.st_mode & S_IXUSR) != 0, err);
		else
			ret = rp_error_set(err, RP_E_INVALID, "%s is not a regular file or directory; packages hold only those",
			                   src);
	}
	closedir(d);
	return ret;
}

int payload_builder_add_tree(struct payload_builder *b, const char *src_dir, rp_error *err)
{
	return add_tree(b, AT_FDCWD, src_dir, "", 0, err);
}

static struct node *find_file(const struct payload_builder *b, const char *dest)
{
	const struct node *dir = &b->root;
	const char *p = dest;
	while (*p == '/')
		p++;
	while (dir) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		const struct node *n = child((struct node *)dir, p, len);
		if (!n)
			return NULL;
		if (!slash)
			return n->is_dir ? NULL : (struct node *)n;
		dir = n->is_dir ? n : NULL;
		p = slash + 1;
	}
	return NULL;
}

bool payload_builder_has_file(const struct payload_builder *b, const char *dest)
{
	return find_file(b, dest) != NULL;
}

bool payload_builder_set_executable(struct payload_builder *b, const char *dest)
{
	struct node *n = find_file(b, dest);
	if (n)
		n->executable = true;
	return n != NULL;
}

/* ---- writing ---- */

/* A write-capable sqfs_file_t over a caller's fd. */
struct fd_file {
	sqfs_file_t base;
	int fd;
	sqfs_u64 size;
};

static int fd_read_at(sqfs_file_t *f, sqfs_u64 off, void *buf, size_t size)
{
	struct fd_file *ff = (struct fd_file *)f;
	if (off > ff->size || size > ff->size - off)
		return SQFS_ERROR_OUT_OF_BOUNDS;
	while (size) {
		ssize_t n = pread(ff->fd, buf, size, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return SQFS_ERROR_IO;
		buf = (uint8_t *)buf + n, size -= (size_t)n, off += (sqfs_u64)n;
	}
	return 0;
}

static int fd_write_at(sqfs_file_t *f, sqfs_u64 off, const void *buf, size_t size)
{
	struct fd_file *ff = (struct fd_file *)f;
	sqfs_u64 end = off + size;
	while (size) {
		ssize_t n = pwrite(ff->fd, buf, size, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return SQFS_ERROR_IO;
		buf = (const uint8_t *)buf + n, size -= (size_t)n, off += (sqfs_u64)n;
	}
	if (end > ff->size)
		ff->size = end;
	return 0;
}

static sqfs_u64 fd_get_size(const sqfs_file_t *f) { return ((const struct fd_file *)f)->size; }

static int fd_truncate(sqfs_file_t *f, sqfs_u64 size)
{
	struct fd_file *ff = (struct fd_file *)f;
	if (ftruncate(ff->fd, (off_t)size) < 0)
		return SQFS_ERROR_IO;
	ff->size = size;
	return 0;
}

static void fd_destroy(sqfs_object_t *o) { (void)o; }

struct writer {
	struct fd_file file;
	sqfs_super_t super;
	sqfs_compressor_t *cmp;
	sqfs_block_writer_t *bw;
	sqfs_frag_table_t *frag;
	sqfs_block_processor_t *proc;
	sqfs_id_table_t *ids;
	sqfs_meta_writer_t *im, *dm;
	sqfs_dir_writer_t *dirw;
	sqfs_u16 id0;
	sqfs_u32 next_ino;
};

static int fail(rp_error *err, int ret, const char *what)
{
	return rp_error_set(err, ret == SQFS_ERROR_IO ? RP_E_IO : RP_E_INTERNAL, "%s (libsquashfs error %d)", what, ret);
}

static int cmp_nodes(const void *a, const void *b)
{
	return strcmp(((const struct node *)a)->name, ((const struct node *)b)->name);
}

/* Data first: stream every regular file through the block processor. */
static int write_data(struct writer *w, struct node *n, rp_error *err)
{
	if (n->is_dir) {
		qsort(n->children, n->nchildren, sizeof(*n->children), cmp_nodes);
		for (size_t i = 0; i < n->nchildren; i++) {
			n->children[i].parent = n;
			if (write_data(w, &n->children[i], err) < 0)
				return -1;
		}
		return 0;
	}
	_cleanup_close_ int fd = open(n->src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return rp_error_set_errno(err, errno, "%s", n->src);
	/* No deduplication (it trusts a hash alone) and no fragment packing (libsquashfs 1.2 leaks
	 * its fragment-dedup entries); a small file is then one short compressed block. */
	int ret = sqfs_block_processor_begin_file(w->proc, &n->inode, NULL,
	                                          SQFS_BLK_DONT_DEDUPLICATE | SQFS_BLK_DONT_FRAGMENT);
	if (ret)
		return fail(err, ret, "starting file");
	static uint8_t buf[64 * 1024];
	for (;;) {
		ssize_t got = rp_read_full(fd, buf, sizeof(buf));
		if (got < 0)
			return rp_error_set_errno(err, errno, "reading %s", n->src);
		if (got == 0)
			break;
		ret = sqfs_block_processor_append(w->proc, buf, (size_t)got);
		if (ret)
			return fail(err, ret, "compressing file data");
		if ((size_t)got < sizeof(buf))
			break;
	}
	ret = sqfs_block_processor_end_file(w->proc);
	return ret ? fail(err, ret, "finishing file") : 0;
}

/* Parent inode numbers are only known after the whole post-order numbering. Directory inodes
 * are serialised in a second pass, so numbering happens first. */
static void assign_numbers(struct node *n, sqfs_u32 *next)
{
	for (size_t i = 0; i < n->nchildren; i++)
		assign_numbers(&n->children[i], next);
	n->ino = ++*next;
}

static int serialize(struct writer *w, struct node *n, sqfs_u32 parent_ino, rp_error *err)
{
	int ret;
	if (n->is_dir) {
		size_t subdirs = 0;
		for (size_t i = 0; i < n->nchildren; i++) {
			if (serialize(w, &n->children[i], n->ino, err) < 0)
				return -1;
			subdirs += n->children[i].is_dir;
		}
		if ((ret = sqfs_dir_writer_begin(w->dirw, 0)) != 0)
			return fail(err, ret, "directory");
		for (size_t i = 0; i < n->nchildren; i++) {
			struct node *c = &n->children[i];
			ret = sqfs_dir_writer_add_entry(w->dirw, c->name, c->ino, c->ref, c->inode->base.mode);
			if (ret)
				return fail(err, ret, "directory entry");
		}
		if ((ret = sqfs_dir_writer_end(w->dirw)) != 0)
			return fail(err, ret, "directory");
		n->inode = sqfs_dir_writer_create_inode(w->dirw, 2 + subdirs, 0xFFFFFFFF, parent_ino);
		if (!n->inode)
			return rp_error_set(err, RP_E_INTERNAL, "out of memory");
		n->inode->base.mode = SQFS_INODE_MODE_DIR | 0755;
	} else {
		n->inode->base.mode = (sqfs_u16)(SQFS_INODE_MODE_REG | (n->executable ? 0755 : 0644));
	}
	n->inode->base.uid_idx = w->id0;
	n->inode->base.gid_idx = w->id0;
	n->inode->base.mod_time = PACKAGE_PAYLOAD_MTIME;
	n->inode->base.inode_number = n->ino;
	sqfs_u64 block;
	sqfs_u32 offset;
	sqfs_meta_writer_get_position(w->im, &block, &offset);
	n->ref = block << 16 | offset;
	ret = sqfs_meta_writer_write_inode(w->im, n->inode);
	return ret ? fail(err, ret, "writing inode") : 0;
}

static void writer_free(struct writer *w)
{
	sqfs_destroy(w->dirw);
	sqfs_destroy(w->dm);
	sqfs_destroy(w->im);
	sqfs_destroy(w->ids);
	sqfs_destroy(w->proc);
	sqfs_destroy(w->frag);
	sqfs_destroy(w->bw);
	sqfs_destroy(w->cmp);
}

static int write_image(struct writer *w, struct payload_builder *b, rp_error *err)
{
	int ret;
	sqfs_compressor_config_t cfg;
	if (sqfs_compressor_config_init(&cfg, SQFS_COMP_ZSTD, PACKAGE_PAYLOAD_BLOCK_SIZE, 0) != 0)
		return rp_error_set(err, RP_E_INTERNAL, "creating zstd compressor");
	/* Level 9 instead of libsquashfs's 15: several times faster for a few percent in size. */
	cfg.level = PACKAGE_PAYLOAD_ZSTD_LEVEL;
	if (sqfs_compressor_create(&cfg, &w->cmp) != 0)
		return rp_error_set(err, RP_E_INTERNAL, "creating zstd compressor");
	if (sqfs_super_init(&w->super, PACKAGE_PAYLOAD_BLOCK_SIZE, PACKAGE_PAYLOAD_MTIME, SQFS_COMP_ZSTD) != 0)
		return rp_error_set(err, RP_E_INTERNAL, "initialising superblock");
	if ((ret = sqfs_super_write(&w->super, &w->file.base)) != 0)
		return fail(err, ret, "writing superblock");
	ret = w->cmp->write_options(w->cmp, &w->file.base);
	if (ret < 0)
		return fail(err, ret, "writing compressor options");
	if (ret > 0)
		w->super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;
	w->bw = sqfs_block_writer_create(&w->file.base, 4096, 0);
	w->frag = sqfs_frag_table_create(0);
	w->ids = sqfs_id_table_create(0);
	if (!w->bw || !w->frag || !w->ids)
		return rp_error_set(err, RP_E_INTERNAL, "creating squashfs writers");
	/* Blocks are compressed in parallel but written in order, so the output stays reproducible. */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned workers = cpus < 1 ? 1 : cpus > 8 ? 8 : (unsigned)cpus;
	w->proc = sqfs_block_processor_create(PACKAGE_PAYLOAD_BLOCK_SIZE, w->cmp, workers, 10 * workers, w->bw,
	                                      w->frag);
	if (!w->proc)
		return rp_error_set(err, RP_E_INTERNAL, "creating block processor");
	if ((ret = sqfs_id_table_id_to_index(w->ids, 0, &w->id0)) != 0)
		return fail(err, ret, "id table");

	if (write_data(w, &b->root, err) < 0)
		return -1;
	if ((ret = sqfs_block_processor_finish(w->proc)) != 0)
		return fail(err, ret, "writing data blocks");

	w->im = sqfs_meta_writer_create(&w->file.base, w->cmp, 0);
	w->dm = sqfs_meta_writer_create(&w->file.base, w->cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
	w->dirw = w->dm ? sqfs_dir_writer_create(w->dm, 0) : NULL;
	if (!w->im || !w->dirw)
		return rp_error_set(err, RP_E_INTERNAL, "creating metadata writers");
	sqfs_u32 count = 0;
	assign_numbers(&b->root, &count);
	w->super.inode_table_start = w->file.size;
	/* The root's parent is conventionally one past the last inode number. */
	if (serialize(w, &b->root, count + 1, err) < 0)
		return -1;
	w->super.root_inode_ref = b->root.ref;
	w->super.inode_count = count;
	if ((ret = sqfs_meta_writer_flush(w->im)) != 0 || (ret = sqfs_meta_writer_flush(w->dm)) != 0)
		return fail(err, ret, "flushing metadata");
	w->super.directory_table_start = w->file.size;
	if ((ret = sqfs_meta_write_write_to_file(w->dm)) != 0)
		return fail(err, ret, "writing directory table");
	if ((ret = sqfs_frag_table_write(w->frag, &w->file.base, &w->super, w->cmp)) != 0)
		return fail(err, ret, "writing fragment table");
	if ((ret = sqfs_id_table_write(w->ids, &w->file.base, &w->super, w->cmp)) != 0)
		return fail(err, ret, "writing id table");
	w->super.flags |= SQFS_FLAG_NO_XATTRS;
	w->super.bytes_used = w->file.size;
	/* Pad to 4 KiB as mksquashfs does, so the image can back a loop device. */
	if (w->file.size % 4096) {
		static const uint8_t zeros[4096];
		if ((ret = w->file.base.write_at(&w->file.base, w->file.size, zeros, 4096 - w->file.size % 4096)) != 0)
			return fail(err, ret, "padding image");
	}
	if ((ret = sqfs_super_write(&w->super, &w->file.base)) != 0)
		return fail(err, ret, "writing superblock");
	return 0;
}

int payload_builder_write(struct payload_builder *b, int out_fd, rp_error *err)
{
	struct writer w;
	memset(&w, 0, sizeof(w));
	w.file.base.base.destroy = fd_destroy;
	w.file.base.read_at = fd_read_at;
	w.file.base.write_at = fd_write_at;
	w.file.base.get_size = fd_get_size;
	w.file.base.truncate = fd_truncate;
	w.file.fd = out_fd;
	int ret = write_image(&w, b, err);
	writer_free(&w);
	if (ret < 0)
		return rp_error_prefix(err, "building payload filesystem");
	return 0;
}
