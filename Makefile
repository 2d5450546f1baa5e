# mod_fcgid in Rust. `make` builds mod_fcgid.so and cgi-fcgi in this
# directory; `make install` puts them where apxs says modules live.

APXS      ?= apxs
CARGO     ?= cargo
DESTDIR   ?=
BINDIR    ?= /usr/local/bin
LIBEXECDIR = $(shell $(APXS) -q LIBEXECDIR)
# Debian's layout for a2enmod; skipped where it does not exist.
MODS_AVAILABLE ?= /etc/apache2/mods-available

.PHONY: all build install deb test demo bench bench-quick check-symbols clean

all: build

build:
	$(CARGO) build --release
	cp target/release/libmod_fcgid.so mod_fcgid.so
	cp target/release/cgi-fcgi cgi-fcgi

mod_fcgid.so cgi-fcgi: build

install: build
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(BINDIR)
	install -m 644 mod_fcgid.so $(DESTDIR)$(LIBEXECDIR)/mod_fcgid.so
	install -m 755 cgi-fcgi $(DESTDIR)$(BINDIR)/cgi-fcgi
	if [ -d $(DESTDIR)$(MODS_AVAILABLE) ]; then \
	  sed 's|/usr/lib/apache2/modules|$(LIBEXECDIR)|' conf/fcgid.load > $(DESTDIR)$(MODS_AVAILABLE)/fcgid.load; \
	  [ -f $(DESTDIR)$(MODS_AVAILABLE)/fcgid.conf ] || install -m 644 conf/fcgid.conf $(DESTDIR)$(MODS_AVAILABLE)/fcgid.conf; \
	fi

# The Debian package libapache2-mod-fcgid-rs (replaces libapache2-mod-fcgid):
# target/deb/libapache2-mod-fcgid-rs_VERSION_ARCH.deb. See scripts/deb.
deb:
	scripts/deb

test:
	scripts/test

demo:
	scripts/demo

# Both run as root (apt-get, apache2 with User www-data); see scripts/bench.
bench:
	scripts/bench

bench-quick:
	scripts/bench --quick

# Issue 12: N = 1, 1000, 5000 classes, ours and C (N <= 1000); see the script.
.PHONY: bench-scale
bench-scale:
	scripts/bench-scale

check-symbols: build
	FCGID_MODULE=$(CURDIR)/mod_fcgid.so $(CARGO) test --test symbols

clean:
	$(CARGO) clean
	rm -f mod_fcgid.so cgi-fcgi

# The soak of issue 10 (minutes long; SOAK_REQUESTS=20000 for a quick run).
.PHONY: soak
soak:
	$(CARGO) build --release
	FCGID_MODULE=$(CURDIR)/target/release/libmod_fcgid.so \
	  $(CARGO) test --release --test soak -- --ignored --nocapture

# Fuzzing (fuzz/, scripts/fuzz): every target for FUZZ_SECONDS each (default
# 600); fuzz-short runs each for 25 s, as CI does. Both fail on any crash.
.PHONY: fuzz fuzz-short
fuzz:
	scripts/fuzz

fuzz-short:
	scripts/fuzz --short
