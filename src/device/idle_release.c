/* Idle memory release for the device daemons (see idle_release.h). */
#include "device/idle_release.h"

#include <elf.h>
#include <link.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

#define IDLE_MAX_RANGES 128

struct idle_ranges {
	uintptr_t page;
	size_t n;
	uintptr_t lo[IDLE_MAX_RANGES], hi[IDLE_MAX_RANGES];
};

static int collect_object(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	struct idle_ranges *r = data;
	for (int i = 0; i < info->dlpi_phnum && r->n < IDLE_MAX_RANGES; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		/* Only segments without write permission: their pages are clean copies of the file. */
		if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W) || ph->p_memsz == 0)
			continue;
		r->lo[r->n] = (info->dlpi_addr + ph->p_vaddr) & ~(r->page - 1);
		r->hi[r->n] = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + r->page - 1) & ~(r->page - 1);
		r->n++;
	}
	return 0;
}

void device_idle_release(void)
{
	malloc_trim(0);
	/* Collected first and released after: walking the objects reads their program headers,
	 * which live in the pages being released. */
	static struct idle_ranges r;
	r.page = (uintptr_t)sysconf(_SC_PAGESIZE);
	r.n = 0;
	dl_iterate_phdr(collect_object, &r);
	for (size_t i = 0; i < r.n; i++) {
		void *p = (void *)r.lo[i];
		size_t len = r.hi[i] - r.lo[i];
		/* Without read-ahead a later fault brings back the page it needs, not a window around it.
		 * Errors (an old kernel, the vDSO) only mean the pages stay resident. */
		(void)madvise(p, len, MADV_RANDOM);
		(void)madvise(p, len, MADV_PAGEOUT);
	}
}
