# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# test processes (pytest-xdist); the suite waits on real processes more than it computes
TEST_PROCESSES ?= 3

.PHONY: install run test test-fast bench soak clean sftp-deps office-deps postgres-deps browser-deps nginx-deps

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The terminal shows the lines; the rotating JSON log file under the data folder keeps them
# (every process's, rotated at 20 MB, 5 kept): grep it, or feed it to jq (docs/operations.md).
run: install
	PIPELINE_LOG_FILE="$${PIPELINE_LOG_FILE:-$${PIPELINE_DATA_DIR:-var}/logs/pipeline.log}" $(BIN)/pipeline run

test: install sftp-deps office-deps postgres-deps browser-deps nginx-deps
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_PROCESSES) --dist loadgroup

test-fast: install
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -q -m "not slow" -n $(TEST_PROCESSES) --dist loadgroup

# The SFTP tests run Debian's real sshd with nss_wrapper (tests/support/sftpserver.py). The .debs are
# unpacked into build/sftp-deps/root, not installed: no ssh service is started, no system
# user or file changes. Idempotent: nothing is done once the stamp exists.
SFTP_DEPS := build/sftp-deps
SFTP_DEBS := openssh-server libwrap0 libnss-wrapper

sftp-deps: $(SFTP_DEPS)/.installed

$(SFTP_DEPS)/.installed:
	rm -rf $(SFTP_DEPS) && mkdir -p $(SFTP_DEPS)/debs
	cd $(SFTP_DEPS)/debs && { apt-get -qq -o APT::Sandbox::User=root download $(SFTP_DEBS) 2>/dev/null \
		|| { apt-get -qq update && apt-get -qq -o APT::Sandbox::User=root download $(SFTP_DEBS); }; }
	for deb in $(SFTP_DEPS)/debs/*.deb; do dpkg-deb -x "$$deb" $(SFTP_DEPS)/root; done
	LD_LIBRARY_PATH="$$(echo $(CURDIR)/$(SFTP_DEPS)/root/usr/lib/*-linux-gnu)" \
		$(SFTP_DEPS)/root/usr/sbin/sshd -V 2>&1 | grep -q '^OpenSSH_'
	test -f "$$(echo $(SFTP_DEPS)/root/usr/lib/*-linux-gnu/libnss_wrapper.so)"
	touch $@

# The web proxy test (tests/test_web_proxy.py) runs deploy/compose/nginx-web.conf with Debian's
# nginx in front of a real `pipeline web`. As with sshd, the .deb is unpacked into
# build/nginx-deps/root, not installed: no nginx service is started on port 80. Its
# libraries (OpenSSL, PCRE2, zlib) are Debian's base ones. Idempotent: done once.
NGINX_DEPS := build/nginx-deps

nginx-deps: $(NGINX_DEPS)/.installed

$(NGINX_DEPS)/.installed:
	rm -rf $(NGINX_DEPS) && mkdir -p $(NGINX_DEPS)/debs
	cd $(NGINX_DEPS)/debs && { apt-get -qq -o APT::Sandbox::User=root download nginx 2>/dev/null \
		|| { apt-get -qq update && apt-get -qq -o APT::Sandbox::User=root download nginx; }; }
	for deb in $(NGINX_DEPS)/debs/*.deb; do dpkg-deb -x "$$deb" $(NGINX_DEPS)/root; done
	$(NGINX_DEPS)/root/usr/sbin/nginx -v >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get -qq install \
		-y --no-install-recommends libssl3 libpcre2-8-0 zlib1g libcrypt1 >/dev/null
	$(NGINX_DEPS)/root/usr/sbin/nginx -v 2>&1 | grep -q '^nginx version: nginx/'
	touch $@

# The workbook tests open and save the templates with LibreOffice, as clerks' WPS and
# LibreOffice do (tests/test_workbook_libreoffice.py): Debian's headless Calc, installed
# once (about 20 s) when soffice is missing. Unlike sshd it is installed system-wide: its
# dozens of shared libraries and the UNO runtime do not run from an unpacked tree.
office-deps:
	command -v soffice >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get -qq install -y \
		--no-install-recommends libreoffice-calc-nogui >/dev/null 2>&1 || { apt-get -qq update \
		&& DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends \
		libreoffice-calc-nogui >/dev/null; }; }
	soffice --version | grep -q LibreOffice

# The catalogue tests run a real PostgreSQL server (tests/support/postgres.py): Debian's
# postgresql package, installed once when no /usr/lib/postgresql/*/bin/initdb exists. Each
# test process runs initdb and starts its own throwaway server in a /tmp folder on a free port;
# the `main` cluster the package may create and start on 5432 is not used. It is stopped
# right after the install (best effort: harmless if it was never started).
postgres-deps:
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { { DEBIAN_FRONTEND=noninteractive apt-get -qq \
		install -y --no-install-recommends postgresql >/dev/null 2>&1 || { apt-get -qq update \
		&& DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends \
		postgresql >/dev/null; }; } && { service postgresql stop >/dev/null 2>&1 || true; }; }
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null

# The browser tests (tests/test_web_browser.py) drive Debian's Chromium through Debian's
# chromedriver with Selenium: the two packages (same version, so they always fit) and a
# Chinese font for the pages and their screenshots, installed once when chromedriver is
# missing. No browser or driver is downloaded from anywhere else.
browser-deps:
	command -v chromedriver >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get -qq install -y \
		--no-install-recommends chromium chromium-driver fonts-wqy-microhei >/dev/null 2>&1 || { apt-get -qq update \
		&& DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends \
		chromium chromium-driver fonts-wqy-microhei >/dev/null; }; }
	chromedriver --version | grep -q ChromeDriver

bench: install
	$(BIN)/python -m bench.run

# 200 mixed packages into `pipeline run`: lost and doubled must be 0 (exit 1 otherwise).
soak: install
	$(BIN)/python -m bench.soak

# Long fuzzing run of the checker (docs/fuzzing.md): tests/test_fuzz.py with the random
# "fuzz" Hypothesis profile (~20,000 examples, 10-20 minutes on 2 cores; FUZZ_EXAMPLES=n
# sets the examples of the largest property). `make test` runs the same tests on a short,
# fixed budget. Failing uploads are saved in $TMPDIR/fuzz-failures/.
.PHONY: fuzz
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -p no:cacheprovider --timeout=0 \
		--hypothesis-show-statistics tests/test_fuzz.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
