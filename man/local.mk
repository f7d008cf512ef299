# man/local.mk -- the manual pages (section 3mymalloc, 7, 1).
