# bench/local.mk -- `make bench`: mymalloc against glibc, jemalloc, tcmalloc
# and mimalloc.  Included from the top Makefile.am, so paths are
# from the top of the tree.
#
# The workloads are plain C compiled with -O2 and NOT linked to
# libmymalloc: bench/run picks the allocator of each run by LD_PRELOAD
# (glibc: none).  They are noinst_PROGRAMS: `make` builds them (seconds),
# so the warnings flags check them and bench/run finds them in bench/.
#
#   make bench                  the full benchmark; writes bench/results/
#   make bench-quick            a tenth of the work (what CI runs); durations
#                               in bench/README.md
#   make bench BENCH_FLAGS='--only small-2t,larson --runs 3'
#   make bench-hardening        the cost of the hardening (callgrind)
#   make bench-profile          the cost of the heap profiler: off, at the
#                               default rate, 64 KiB and 4 KiB (bench/README.md)

bench_programs = bench/small bench/larson bench/prodcons bench/falseshare \
	bench/fragment bench/realloc bench/large bench/pairs bench/measure \
	bench/churn
noinst_PROGRAMS += $(bench_programs)

bench_cflags = -O2 $(MM_CFLAGS) $(PTHREAD_CFLAGS)
bench_ldadd = $(PTHREAD_LIBS)

bench_small_SOURCES = bench/small.c bench/bench.h
bench_small_CFLAGS = $(bench_cflags)
bench_small_LDADD = $(bench_ldadd)
bench_larson_SOURCES = bench/larson.c bench/bench.h
bench_larson_CFLAGS = $(bench_cflags)
bench_larson_LDADD = $(bench_ldadd)
bench_prodcons_SOURCES = bench/prodcons.c bench/bench.h
bench_prodcons_CFLAGS = $(bench_cflags)
bench_prodcons_LDADD = $(bench_ldadd)
bench_falseshare_SOURCES = bench/falseshare.c bench/bench.h
bench_falseshare_CFLAGS = $(bench_cflags)
bench_falseshare_LDADD = $(bench_ldadd)
bench_fragment_SOURCES = bench/fragment.c bench/bench.h
bench_fragment_CFLAGS = $(bench_cflags)
bench_fragment_LDADD = $(bench_ldadd)
bench_realloc_SOURCES = bench/realloc.c bench/bench.h
bench_realloc_CFLAGS = $(bench_cflags)
bench_realloc_LDADD = $(bench_ldadd)
bench_large_SOURCES = bench/large.c bench/bench.h
bench_large_CFLAGS = $(bench_cflags)
bench_large_LDADD = $(bench_ldadd)
bench_pairs_SOURCES = bench/pairs.c bench/bench.h
bench_pairs_CFLAGS = $(bench_cflags)
bench_pairs_LDADD = $(bench_ldadd)
bench_churn_SOURCES = bench/churn.c bench/bench.h
bench_churn_CFLAGS = $(bench_cflags)
bench_churn_LDADD = $(bench_ldadd)
bench_measure_SOURCES = bench/measure.c
bench_measure_CFLAGS = $(bench_cflags)

EXTRA_DIST += bench/run bench/alloc.py bench/sqlite.sql bench/README.md bench/hardening-cost

BENCH_FLAGS =
bench_run = $(srcdir)/bench/run --bindir=bench --lib=src/.libs/libmymalloc.so.0

bench: $(bench_programs) src/libmymalloc.la
	$(bench_run) $(BENCH_FLAGS)

bench-quick: $(bench_programs) src/libmymalloc.la
	$(bench_run) --quick $(BENCH_FLAGS)

bench-check:
	$(srcdir)/bench/run --check

# what the hardening costs, in instructions (callgrind), per workload
bench-hardening: $(bench_programs) src/libmymalloc.la
	$(srcdir)/bench/hardening-cost --bindir=bench

# what the heap profiler costs: CPU time and instructions, profiling off
# and at three rates, interleaved
bench-profile: $(bench_programs) src/libmymalloc.la
	$(bench_run) --profile-cost $(BENCH_FLAGS)

.PHONY: bench bench-quick bench-check bench-hardening bench-profile

# the patterns of public allocator benchmarks (bench/README.md)
bench_public = bench/larsongen bench/randrepl bench/rpbench
noinst_PROGRAMS += $(bench_public)
bench_larsongen_SOURCES = bench/larsongen.c bench/bench.h
bench_larsongen_CFLAGS = $(bench_cflags)
bench_larsongen_LDADD = $(bench_ldadd)
bench_randrepl_SOURCES = bench/randrepl.c bench/bench.h
bench_randrepl_CFLAGS = $(bench_cflags)
bench_randrepl_LDADD = $(bench_ldadd)
bench_rpbench_SOURCES = bench/rpbench.c bench/bench.h
bench_rpbench_CFLAGS = $(bench_cflags)
bench_rpbench_LDADD = $(bench_ldadd)
bench bench-quick bench-profile: $(bench_public)
