# tools/local.mk -- mymalloc-run and mymalloc-prof, generated at make time
# so that the library path is the real one (configure's @libdir@ is still
# ${exec_prefix}/lib), and so that both stand side by side in the build
# tree's tools/ (mymalloc-run --leaks runs the mymalloc-prof beside it).
bin_SCRIPTS += tools/mymalloc-run tools/mymalloc-prof
EXTRA_DIST += tools/mymalloc-run.in tools/mymalloc-prof.in
CLEANFILES += tools/mymalloc-run tools/mymalloc-prof

tools/mymalloc-run: $(top_srcdir)/tools/mymalloc-run.in Makefile
tools/mymalloc-prof: $(top_srcdir)/tools/mymalloc-prof.in Makefile
tools/mymalloc-run tools/mymalloc-prof:
	$(AM_V_GEN)mkdir -p tools && sed \
	  -e 's|%LIBDIR%|$(libdir)|g' \
	  -e 's|%VERSION%|$(PACKAGE_VERSION)|g' \
	  $(top_srcdir)/$@.in > $@.tmp && chmod +x $@.tmp && mv $@.tmp $@

# the demo behind `make get-stats` (and the README's first command)
noinst_PROGRAMS += tools/mymalloc-demo
tools_mymalloc_demo_SOURCES = tools/demo.c

get-stats: tools/mymalloc-demo
	./tools/mymalloc-demo
.PHONY: get-stats

# `make install` into the running system refreshes the loader's cache
# (ldconfig, only when DESTDIR is empty, as root, and when $(libdir) is one
# of the loader's directories), and so does `make uninstall`
dist_noinst_SCRIPTS += tools/ldconfig-refresh
install-exec-hook:
	@$(SHELL) $(srcdir)/tools/ldconfig-refresh '$(DESTDIR)' '$(libdir)'
# (uninstall also removes the directories install may have made, when they
# are empty: rmdir never removes one that holds other files)
uninstall-hook:
	-@for d in '$(DESTDIR)$(mymallocincludedir)' '$(DESTDIR)$(pkgconfigdir)' \
	  '$(DESTDIR)$(man1dir)' '$(DESTDIR)$(man3dir)' '$(DESTDIR)$(man7dir)'; do \
	  rmdir "$$d" 2>/dev/null; done; true
	@$(SHELL) $(srcdir)/tools/ldconfig-refresh '$(DESTDIR)' '$(libdir)'

# `make deb`: the Debian packages, built from a copy of the sources into
# $(DEB_DIR), outside the source tree, which stays as it is (as root it
# installs the build dependencies first).  .ci/package uses the same script.
DEB_DIR = $(abs_top_srcdir)/../mymalloc-debs
dist_noinst_SCRIPTS += tools/build-debs
deb:
	bash $(srcdir)/tools/build-debs --out '$(DEB_DIR)' --builddir '$(abs_top_builddir)'
.PHONY: deb
