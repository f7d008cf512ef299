# man/local.mk -- the manual pages: section 3mymalloc (one page, or a .so
# link to a shared page, for every exported function), 7 and 1.
# notrans_: a --program-prefix/--program-transform-name never renames them.
# A page in section 3mymalloc installs into man3/ under its own name, beside
# (never over) the C library's malloc.3 of manpages-dev.
#
# First the pages, then the one-line ".so man3/PAGE.3mymalloc" links
# (dh_installman turns those into symlinks in the Debian packages).
notrans_dist_man_MANS += \
	man/free_sized.3mymalloc \
	man/mallinfo2.3mymalloc \
	man/malloc.3mymalloc \
	man/malloc_info.3mymalloc \
	man/malloc_stats.3mymalloc \
	man/malloc_trim.3mymalloc \
	man/malloc_usable_size.3mymalloc \
	man/mallopt.3mymalloc \
	man/mymalloc_malloc.3mymalloc \
	man/mymalloc_profile_dump.3mymalloc \
	man/mymalloc_stats_print.3mymalloc \
	man/posix_memalign.3mymalloc \
	\
	man/aligned_alloc.3mymalloc \
	man/calloc.3mymalloc \
	man/free.3mymalloc \
	man/free_aligned_sized.3mymalloc \
	man/mallinfo.3mymalloc \
	man/memalign.3mymalloc \
	man/mymalloc_aligned_alloc.3mymalloc \
	man/mymalloc_calloc.3mymalloc \
	man/mymalloc_free.3mymalloc \
	man/mymalloc_free_aligned_sized.3mymalloc \
	man/mymalloc_free_sized.3mymalloc \
	man/mymalloc_mallinfo.3mymalloc \
	man/mymalloc_mallinfo2.3mymalloc \
	man/mymalloc_malloc_info.3mymalloc \
	man/mymalloc_malloc_stats.3mymalloc \
	man/mymalloc_malloc_trim.3mymalloc \
	man/mymalloc_malloc_usable_size.3mymalloc \
	man/mymalloc_mallopt.3mymalloc \
	man/mymalloc_memalign.3mymalloc \
	man/mymalloc_posix_memalign.3mymalloc \
	man/mymalloc_pvalloc.3mymalloc \
	man/mymalloc_realloc.3mymalloc \
	man/mymalloc_reallocarray.3mymalloc \
	man/mymalloc_valloc.3mymalloc \
	man/pvalloc.3mymalloc \
	man/realloc.3mymalloc \
	man/reallocarray.3mymalloc \
	man/valloc.3mymalloc \
	man/libmymalloc.7 \
	man/mymalloc-prof.1 \
	man/mymalloc-run.1

# Every page must format without a warning (lintian runs the same check),
# and `man -l man/PAGE` must work from the top of the source tree for every
# page, the ".so man3/..." links included (they resolve through the link
# man3 -> man at the top of a git checkout).
lint-man:
	@fail=0; for p in $(notrans_dist_man_MANS); do \
	  f=$(srcdir)/$$p; \
	  if test -d $(srcdir)/man3 && command -v man >/dev/null 2>&1; then \
	    out=$$(cd $(srcdir) && LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l $$p 2>&1 >/dev/null); \
	    test -z "$$out" || { echo "$$p: man -l: $$out"; fail=1; }; \
	  fi; \
	  if head -n1 $$f | grep -q '^\.so '; then \
	    t=$(srcdir)/man/$$(sed -n 's|^\.so man[0-9]/||p' $$f); \
	    test -f $$t || { echo "$$p: broken link"; fail=1; }; \
	    continue; \
	  fi; \
	  out=$$(LC_ALL=C.UTF-8 groff -man -ww -z $$f 2>&1); \
	  test -z "$$out" || { echo "$$p: $$out"; fail=1; }; \
	done; test $$fail = 0 && echo "lint-man: all pages clean"

.PHONY: lint-man
