/* C baseline for DMA mapping (runs in the guest, built static on the host): joins VFIO group
 * GROUP to a fresh Type1v2 container, then for each SIZE:ITERS times ITERS rounds of
 *   mode "map":   VFIO_IOMMU_MAP_DMA + VFIO_IOMMU_UNMAP_DMA of the first SIZE bytes of one
 *                 buffer allocated up front (what the kernel charges for mapping alone);
 *   mode "alloc": mmap + populate + MAP_DMA, then UNMAP_DMA + munmap (what allocDma and
 *                 DmaBuffer.free do, with the memory flags the addon uses).
 * PAGES is 4k or 2m (hugetlbfs pages, as the addon's hugepages 'require').
 * Prints {"rows":[{"size":S,"ns":[...]}]}: the time of each round.
 * usage: dma-map GROUP IOVA map|alloc 4k|2m SIZE:ITERS... */
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif
static int huge;

/* What the addon allocates: whole pages of the chosen size. */
static size_t mem_size(size_t size) {
  size_t page = huge ? 2u << 20 : 4096;
  return (size + page - 1) & ~(page - 1);
}

/* The addon's DMA memory: private, anonymous, populated, kept out of fork(). */
static void *alloc_mem(size_t size) {
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | (huge ? MAP_HUGETLB | MAP_HUGE_2MB : 0);
  size = mem_size(size);
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED) die("mmap");
  madvise(p, size, MADV_DONTFORK);
  return p;
}

static void map(int c, void *vaddr, uint64_t iova, uint64_t size) {
  struct vfio_iommu_type1_dma_map m = { .argsz = sizeof m, .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                                        .vaddr = (uintptr_t)vaddr, .iova = iova, .size = size };
  if (ioctl(c, VFIO_IOMMU_MAP_DMA, &m) < 0) die("VFIO_IOMMU_MAP_DMA");
}

static void unmap(int c, uint64_t iova, uint64_t size) {
  struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof u, .iova = iova, .size = size };
  if (ioctl(c, VFIO_IOMMU_UNMAP_DMA, &u) < 0) die("VFIO_IOMMU_UNMAP_DMA");
  if (u.size != size) { fprintf(stderr, "dma-map: unmapped %llu of %llu\n", (unsigned long long)u.size, (unsigned long long)size); exit(1); }
}

static void print_ns(const uint64_t *xs, long n) {
  putchar('[');
  for (long i = 0; i < n; i++) printf("%s%llu", i ? "," : "", (unsigned long long)xs[i]);
  putchar(']');
}

int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: %s GROUP IOVA map|alloc 4k|2m SIZE:ITERS...\n", argv[0]); return 2; }
  char path[64];
  snprintf(path, sizeof path, "/dev/vfio/%s", argv[1]);
  uint64_t iova = strtoull(argv[2], NULL, 0);
  int alloc_mode = strcmp(argv[3], "alloc") == 0;
  huge = strcmp(argv[4], "2m") == 0;
  int c = open("/dev/vfio/vfio", O_RDWR);
  if (c < 0) die("/dev/vfio/vfio");
  int g = open(path, O_RDWR);
  if (g < 0) die(path);
  if (ioctl(g, VFIO_GROUP_SET_CONTAINER, &c) < 0) die("VFIO_GROUP_SET_CONTAINER");
  if (ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) die("VFIO_SET_IOMMU");

  size_t max = 0;
  for (int i = 5; i < argc; i++) {
    size_t s = strtoull(argv[i], NULL, 0);
    if (s > max) max = s;
  }
  /* Map mode: one buffer for every size, so only the ioctls are timed. */
  uint8_t *buf = alloc_mode ? NULL : alloc_mem(max);

  printf("{\"rows\":[");
  for (int i = 5; i < argc; i++) {
    char *colon;
    uint64_t size = strtoull(argv[i], &colon, 0);
    long iters = *colon == ':' ? atol(colon + 1) : 0;
    if (size == 0 || iters <= 0) { fprintf(stderr, "dma-map: bad SIZE:ITERS '%s'\n", argv[i]); return 2; }
    uint64_t *ns = malloc(sizeof *ns * iters);
    /* One clock read per round, as the JS side does (a JS clock read costs far more than a C
     * one under TCG): each round's end is the next one's start. */
    uint64_t t0 = now_ns();
    for (long k = 0; k < iters; k++) {
      void *mem = alloc_mode ? alloc_mem(size) : buf;
      map(c, mem, iova, size);
      unmap(c, iova, size);
      if (alloc_mode) munmap(mem, mem_size(size));
      uint64_t t1 = now_ns();
      ns[k] = t1 - t0;
      t0 = t1;
    }
    printf("%s{\"size\":%llu,\"ns\":", i > 5 ? "," : "", (unsigned long long)size);
    print_ns(ns, iters);
    putchar('}');
    free(ns);
  }
  printf("]}\n");
  return 0;
}
