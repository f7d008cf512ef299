# tools/local.mk -- mymalloc-run, generated at make time so that the
# library path is the real one (configure's @libdir@ is still ${exec_prefix}/lib).
bin_SCRIPTS += tools/mymalloc-run
EXTRA_DIST += tools/mymalloc-run.in
CLEANFILES += tools/mymalloc-run

tools/mymalloc-run: $(top_srcdir)/tools/mymalloc-run.in Makefile
	$(AM_V_GEN)mkdir -p tools && sed \
	  -e 's|@LIBDIR@|$(libdir)|g' \
	  -e 's|@BUILD_LIBDIR@|$(abs_top_builddir)/src/.libs|g' \
	  -e 's|@VERSION@|$(PACKAGE_VERSION)|g' \
	  $(top_srcdir)/tools/mymalloc-run.in > $@.tmp && chmod +x $@.tmp && mv $@.tmp $@
