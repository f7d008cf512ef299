# tools/local.mk -- mymalloc-run, generated at make time so that the
# library path is the real one (configure's @libdir@ is still ${exec_prefix}/lib).
bin_SCRIPTS += tools/mymalloc-run
EXTRA_DIST += tools/mymalloc-run.in
CLEANFILES += tools/mymalloc-run

tools/mymalloc-run: $(top_srcdir)/tools/mymalloc-run.in Makefile
	$(AM_V_GEN)mkdir -p tools && sed \
	  -e 's|%LIBDIR%|$(libdir)|g' \
	  -e 's|%VERSION%|$(PACKAGE_VERSION)|g' \
	  $(top_srcdir)/tools/mymalloc-run.in > $@.tmp && chmod +x $@.tmp && mv $@.tmp $@

# the demo behind `make get-stats` (and the README's first command)
noinst_PROGRAMS += tools/mymalloc-demo
tools_mymalloc_demo_SOURCES = tools/demo.c

get-stats: tools/mymalloc-demo
	./tools/mymalloc-demo
.PHONY: get-stats
