/* The NIC benchmark's bench-only Node-API addon, built at bench time by bench/nic/addon.ts
 * with cc; not part of the package (package.json "files" has no bench/). Two jobs:
 *  - the same-core mode's simulator for the TypeScript driver: nic_sim_step (bench/c/
 *    nic-sim-step.c, the code the two-CPU simulator process and the C driver run), so the TS
 *    forwarding loop calls the step on its own thread between bursts;
 *  - a clock that allocates nothing: performance.now() allocates on every call (an hrtime
 *    array and a heap number), which the forwarding loop's own clock reads would turn into GC
 *    events in the window the benchmark counts them in.
 *
 * One simulator per process (static state). While E1000ePort.open waits for the reset to
 * finish it sleeps the JS thread, so a helper thread steps the simulator during init
 * (startThread/stopThread); after stopThread only the caller's thread touches it.
 *
 *   open(path, tscHz, timeoutS)  maps the shared file, presets the registers, READY
 *   startThread() / stopThread()
 *   step()                       one pass; its cycles are counted in cycles()
 *   cycles()                     TSC cycles spent in step() so far
 *   noop()                       nothing: the cost of the call itself, for calibration
 *   report()                     the simulator's JSON report (SimReport); unmaps
 *   clockBind(f64)               a Float64Array over its own ArrayBuffer (off the JS heap)
 *   clock()                      writes CLOCK_MONOTONIC in ms into f64[0] */
#define _GNU_SOURCE
#include <node_api.h>

#include "../c/nic-sim-step.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static struct nic_sim sim;
static uint8_t *map;
static pthread_t helper;
static int helper_on;
static volatile int helper_stop;

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[256];
  size_t len;
  double tsc_hz, timeout_s;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok ||
      napi_get_value_double(env, argv[1], &tsc_hz) != napi_ok || napi_get_value_double(env, argv[2], &timeout_s) != napi_ok)
    return fail(env, "nic-sim addon: open(path, tscHz, timeoutS)");
  if (map) return fail(env, "nic-sim addon: already open");
  int fd = open(path, O_RDWR);
  if (fd < 0) return fail(env, "nic-sim addon: cannot open the shared file");
  void *m = mmap(NULL, NIC_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (m == MAP_FAILED) return fail(env, "nic-sim addon: mmap failed");
  map = m;
  if (nic_sim_init(&sim, map, 0, 0, tsc_hz, timeout_s, 1) != 0) return fail(env, "nic-sim addon: out of memory");
  return undefined(env);
}

static void *helper_main(void *arg) {
  (void)arg;
  while (!helper_stop && nic_sim_step(&sim) >= 0) {}
  return NULL;
}

static napi_value js_start_thread(napi_env env, napi_callback_info info) {
  (void)info;
  if (!map || helper_on) return fail(env, "nic-sim addon: not open, or the helper already runs");
  helper_stop = 0;
  if (pthread_create(&helper, NULL, helper_main, NULL) != 0) return fail(env, "nic-sim addon: pthread_create failed");
  helper_on = 1;
  return undefined(env);
}

static napi_value js_stop_thread(napi_env env, napi_callback_info info) {
  (void)info;
  if (helper_on) {
    helper_stop = 1;
    pthread_join(helper, NULL);
    helper_on = 0;
  }
  return undefined(env);
}

/* The hot call: no argument handling, no allocation. A timeout shows in report() (the
 * driver's own loop has a deadline too). */
static napi_value js_step(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  nic_sim_step(&sim);
  return NULL;
}

static napi_value js_noop(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  return NULL;
}

static napi_value js_cycles(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_double(env, (double)sim.k.busy_cycles, &v);
  return v;
}

static napi_value js_report(napi_env env, napi_callback_info info) {
  (void)info;
  if (!map) return fail(env, "nic-sim addon: not open");
  js_stop_thread(env, info);
  /* The window's marks: the step only looks at the control page every 16 passes. */
  for (int i = 0; i < 16; i++) nic_sim_step(&sim);
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  if (!f) return fail(env, "nic-sim addon: open_memstream failed");
  nic_sim_report(&sim, f);
  fclose(f);
  napi_value v;
  napi_create_string_utf8(env, text, size, &v);
  free(text);
  nic_sim_free(&sim);
  munmap(map, NIC_FILE_SIZE);
  map = NULL;
  return v;
}

static double *clock_out;
static napi_ref clock_ref; /* keeps the bound array (and its memory) alive */

static napi_value js_clock_bind(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (argc < 1 || napi_get_typedarray_info(env, arg, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float64_array || length < 1)
    return fail(env, "nic-sim addon: clockBind(Float64Array)");
  if (clock_ref) napi_delete_reference(env, clock_ref);
  napi_create_reference(env, arg, 1, &clock_ref);
  clock_out = data;
  return undefined(env);
}

static napi_value js_clock(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  if (clock_out) *clock_out = (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor p[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"startThread", NULL, js_start_thread, NULL, NULL, NULL, napi_default, NULL},
      {"stopThread", NULL, js_stop_thread, NULL, NULL, NULL, napi_default, NULL},
      {"step", NULL, js_step, NULL, NULL, NULL, napi_default, NULL},
      {"noop", NULL, js_noop, NULL, NULL, NULL, napi_default, NULL},
      {"cycles", NULL, js_cycles, NULL, NULL, NULL, napi_default, NULL},
      {"report", NULL, js_report, NULL, NULL, NULL, napi_default, NULL},
      {"clockBind", NULL, js_clock_bind, NULL, NULL, NULL, napi_default, NULL},
      {"clock", NULL, js_clock, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof p / sizeof p[0], p);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
