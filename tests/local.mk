# tests/local.mk -- make check.  Test programs link libmymalloc so that
# its malloc replaces libc's; -no-install makes them real binaries (not
# libtool wrapper scripts), which LD_PRELOAD and valgrind need.
mmtest_ldadd = src/libmymalloc.la $(PTHREAD_LIBS)
mmtest_ldflags = -no-install
mmtest_cflags = $(AM_CFLAGS) $(PTHREAD_CFLAGS) -fno-builtin
EXTRA_DIST += tests/harness.h

# the original three.  Tests of the libc names run only when the library
# overrides them (not with --disable-override, where only the prefixed
# API is ours: tests/test_prefix and tests/test_stats).
CORE_TESTS = tests/test1 tests/t-test1 tests/test_sbrk
check_PROGRAMS += $(CORE_TESTS)
if MM_OVERRIDE
TESTS += $(CORE_TESTS)
endif

tests_test1_SOURCES = tests/test1.c
tests_test1_CFLAGS = $(mmtest_cflags)
tests_test1_LDADD = $(mmtest_ldadd)
tests_test1_LDFLAGS = $(mmtest_ldflags)

tests_t_test1_SOURCES = tests/t-test1.c
tests_t_test1_CFLAGS = $(mmtest_cflags)
tests_t_test1_LDADD = $(mmtest_ldadd)
tests_t_test1_LDFLAGS = $(mmtest_ldflags)

tests_test_sbrk_SOURCES = tests/test_sbrk.c
tests_test_sbrk_CFLAGS = $(mmtest_cflags)
tests_test_sbrk_LDADD = $(mmtest_ldadd)
tests_test_sbrk_LDFLAGS = $(mmtest_ldflags)

# the test suite: each program links libmymalloc (its malloc replaces
# libc's), except test_whoami, the helper of test_preload.sh, which must
# get its malloc from the preload only.  The tests of the libc names run
# only in overriding builds; test_symbols and test_nm.sh check whatever the
# build exports (they read MM_OVERRIDE from config.h).
SUITE_TESTS = \
	tests/test_fork \
	tests/test_churn \
	tests/test_enomem \
	tests/test_ctor \
	tests/test_api \
	tests/test_misuse \
	tests/test_cxx \
	tests/test_aslimit
check_PROGRAMS += tests/test_symbols
TESTS += tests/test_symbols tests/test_nm.sh
if MM_OVERRIDE
check_PROGRAMS += $(SUITE_TESTS) tests/test_whoami
TESTS += $(SUITE_TESTS) tests/test_preload.sh
endif
dist_check_SCRIPTS = tests/test_nm.sh tests/test_preload.sh

# the scripts find the build tree through top_builddir; srcdir is set by
# automake's test driver
AM_TESTS_ENVIRONMENT = top_builddir='$(abs_top_builddir)'; export top_builddir;

tests_test_fork_SOURCES = tests/test_fork.c
tests_test_fork_CFLAGS = $(mmtest_cflags)
tests_test_fork_LDADD = $(mmtest_ldadd)
tests_test_fork_LDFLAGS = $(mmtest_ldflags)

tests_test_churn_SOURCES = tests/test_churn.c
tests_test_churn_CFLAGS = $(mmtest_cflags)
tests_test_churn_LDADD = $(mmtest_ldadd)
tests_test_churn_LDFLAGS = $(mmtest_ldflags)

tests_test_enomem_SOURCES = tests/test_enomem.c
tests_test_enomem_CFLAGS = $(mmtest_cflags)
tests_test_enomem_LDADD = $(mmtest_ldadd)
tests_test_enomem_LDFLAGS = $(mmtest_ldflags)

tests_test_aslimit_SOURCES = tests/test_aslimit.c
tests_test_aslimit_CFLAGS = $(mmtest_cflags)
tests_test_aslimit_LDADD = $(mmtest_ldadd)
tests_test_aslimit_LDFLAGS = $(mmtest_ldflags)

tests_test_ctor_SOURCES = tests/test_ctor.c
tests_test_ctor_CFLAGS = $(mmtest_cflags)
tests_test_ctor_LDADD = $(mmtest_ldadd)
tests_test_ctor_LDFLAGS = $(mmtest_ldflags)

tests_test_api_SOURCES = tests/test_api.c
tests_test_api_CFLAGS = $(mmtest_cflags)
tests_test_api_LDADD = $(mmtest_ldadd)
tests_test_api_LDFLAGS = $(mmtest_ldflags)

tests_test_symbols_SOURCES = tests/test_symbols.c
tests_test_symbols_CFLAGS = $(mmtest_cflags)
tests_test_symbols_LDADD = $(mmtest_ldadd)
tests_test_symbols_LDFLAGS = $(mmtest_ldflags)

tests_test_misuse_SOURCES = tests/test_misuse.c
tests_test_misuse_CFLAGS = $(mmtest_cflags)
tests_test_misuse_LDADD = $(mmtest_ldadd)
tests_test_misuse_LDFLAGS = $(mmtest_ldflags)

tests_test_cxx_SOURCES = tests/test_cxx.cc
tests_test_cxx_CXXFLAGS = $(MM_CFLAGS) $(PTHREAD_CFLAGS) -fno-builtin
tests_test_cxx_LDADD = $(mmtest_ldadd)
tests_test_cxx_LDFLAGS = $(mmtest_ldflags)

# built without libmymalloc, on purpose
tests_test_whoami_SOURCES = tests/test_whoami.c
tests_test_whoami_CFLAGS = $(AM_CFLAGS) $(PTHREAD_CFLAGS)
tests_test_whoami_LDADD = $(PTHREAD_LIBS)

# the original targets
test: $(CORE_TESTS)
	@fail=0; for t in $(CORE_TESTS); do \
	  echo "== $$t"; ./$$t || fail=1; \
	done; test $$fail = 0

run-test1: tests/test1
	./tests/test1
run-t-test1: tests/t-test1
	./tests/t-test1
run-test_sbrk: tests/test_sbrk
	./tests/test_sbrk

.PHONY: test run-test1 run-t-test1 run-test_sbrk

# malloc_stats exactness (issue 4)
check_PROGRAMS += tests/test_stats
TESTS += tests/test_stats
tests_test_stats_SOURCES = tests/test_stats.c
tests_test_stats_CFLAGS = $(mmtest_cflags)
tests_test_stats_LDADD = $(mmtest_ldadd)
tests_test_stats_LDFLAGS = $(mmtest_ldflags)

# the prefixed API: runs in every build, also --disable-override
check_PROGRAMS += tests/test_prefix
TESTS += tests/test_prefix
tests_test_prefix_SOURCES = tests/test_prefix.c
tests_test_prefix_CFLAGS = $(mmtest_cflags)
tests_test_prefix_LDADD = $(mmtest_ldadd)
tests_test_prefix_LDFLAGS = $(mmtest_ldflags)

# memory goes back to the kernel (issue 7)
check_PROGRAMS += tests/test_rss
if MM_OVERRIDE
TESTS += tests/test_rss
endif
tests_test_rss_SOURCES = tests/test_rss.c
tests_test_rss_CFLAGS = $(mmtest_cflags)
tests_test_rss_LDADD = $(mmtest_ldadd)
tests_test_rss_LDFLAGS = $(mmtest_ldflags)

# the huge block cache: blocks made of cached extents, split, grown, moved
check_PROGRAMS += tests/test_huge
if MM_OVERRIDE
TESTS += tests/test_huge
endif
tests_test_huge_SOURCES = tests/test_huge.c
tests_test_huge_CFLAGS = $(mmtest_cflags)
tests_test_huge_LDADD = $(mmtest_ldadd)
tests_test_huge_LDFLAGS = $(mmtest_ldflags)
