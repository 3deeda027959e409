#!/usr/bin/env bash
# make compat: does loading ngx_http_privacy_module break nginx?
#
# Runs nginx's own test suite (a checkout of nginx-tests, NGINX_TESTS;
# read-only, used in place) against the Debian nginx binary three times,
# each pass several files at a time:
#
#   plain    without the module
#   module   with the module loaded and, in every http{}, its consent,
#            region, cookie filter, rate limit and upload size cap active
#   types    the same, plus privacy_upload_type */* 1g
#
# and compares each module pass with the plain one, file by file.  A file
# that has a failing assertion with the module that it did not have
# without it, or that the module makes skip, die or miss its plan, is a
# new failure: the script exits 1.  In the types pass, the assertions
# listed in scripts/compat-expected.txt are refused by design (nginx-tests
# send bodies without a Content-Type) and are not counted.  A file that
# differs is run once more; a difference that does not come back is
# reported as flaky and not counted.
#
#   scripts/compat.sh [file.t ...]     (default: every *.t of the suite)
#
# Exits 0 when no file has a new failure (or the suite is absent), 1 when
# one has, 2 when the setup is broken (no module, no Debian modules, a
# pass that did not run).  Its summary line reads "compat: N files, M
# identical, K new failures (...)".
#
# Environment:
#   PE_MODULE      the module (default build/ngx_http_privacy_module.so);
#                  copied first, so a rebuild meanwhile does not matter
#   NGINX_TESTS    the suite (default: nginx-tests in the folder beside
#                  the repository's); when it is absent the script says
#                  so and exits 0
#   COMPAT_JOBS    test files run at once (default 8: the tests mostly
#                  wait on sockets and timers)
#   COMPAT_TIMEOUT seconds one test file may take (default 300)
#   COMPAT_KEEP=1  keep the work directory on success; it is always kept
#                  (and named) when there is a new failure
#   TEST_NGINX_BINARY (default /usr/sbin/nginx), TEST_NGINX_MODULES
#                  (default /usr/lib/nginx/modules), TEST_NGINX_LEAVE,
#                  TEST_NGINX_VERBOSE, TEST_NGINX_CATLOG: as in the suite
#
# The tests run as an unprivileged user, as nginx-tests expect (the
# workers write the test's temp dir): as root, each test file runs as
# `nobody` (setpriv, no PAM, no terminal needed); as anyone else, as that
# user.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
self="$root/scripts/compat.sh"

# --- one test file (prove --exec calls back here) ---------------------------
#
#   compat.sh --one RESULTS_DIR FILE.t
#
# Runs FILE.t as the unprivileged user and keeps its TAP (stdout), its
# stderr (the diagnostics of failures) and its exit code in RESULTS_DIR as
# NAME.tap, NAME.err and NAME.rc; the TAP is also echoed for prove.
if [ "${1:-}" = "--one" ]; then
    out="$2" file="$3"
    name="$(basename "$file" .t)"
    drop=()
    if [ "$(id -u)" -eq 0 ]; then
        drop=(setpriv --reuid=nobody --regid="$(id -g nobody)"
              --clear-groups --)
    fi
    # timeout puts the test in a process group of its own (with its nginx
    # and daemons): stopped with this runner, that group is stopped too
    timeout -k 10 "${COMPAT_TIMEOUT:-300}" "${drop[@]}" perl "$file" \
        >"$out/$name.tap" 2>"$out/$name.err" </dev/null &
    child=$!
    trap 'kill -TERM -- -$child 2>/dev/null; exit 143' TERM HUP
    rc=0
    wait "$child" || rc=$?
    echo "$rc" >"$out/$name.rc"
    cat "$out/$name.tap"
    exit "$rc"
fi

# NGINX_TESTS, or a checkout named nginx-tests in a folder beside the
# repository's (as CI lays it out)
suite="${NGINX_TESTS:-}"
if [ -z "$suite" ]; then
    for d in "$root"/../*/nginx-tests; do
        [ -f "$d/lib/Test/Nginx.pm" ] && suite="$d" && break
    done
    suite="${suite:-$root/../nginx-tests}"
fi
if [ ! -f "$suite/lib/Test/Nginx.pm" ]; then
    echo "compat: skipped: nginx's test suite is not at $suite"
    exit 0
fi
suite="$(cd "$suite" && pwd)"

module="${PE_MODULE:-$root/build/ngx_http_privacy_module.so}"
nginx="${TEST_NGINX_BINARY:-/usr/sbin/nginx}"
modules="${TEST_NGINX_MODULES:-/usr/lib/nginx/modules}"
jobs="${COMPAT_JOBS:-8}"
expected="$root/scripts/compat-expected.txt"

for f in "$module" "$nginx"; do
    if [ ! -e "$f" ]; then
        echo "compat: $f is missing (make; make deps)" >&2
        exit 2
    fi
done
# The Debian binary is built with seven dynamic modules, and the suite
# loads all seven from TEST_NGINX_MODULES into every test's nginx.conf
# (Test::Nginx::test_globals_modules): without them every test fails.
# scripts/deps.sh installs them (libnginx-mod-*).
for m in ngx_http_geoip_module ngx_http_image_filter_module \
         ngx_http_perl_module ngx_http_xslt_filter_module ngx_mail_module \
         ngx_stream_module ngx_stream_geoip_module; do
    if [ ! -e "$modules/$m.so" ]; then
        echo "compat: $modules/$m.so is missing (make deps)" >&2
        exit 2
    fi
done

names=()
if [ $# -gt 0 ]; then
    for f in "$@"; do
        names+=("$(basename "$f" .t)")
    done
else
    for f in "$suite"/*.t; do
        names+=("$(basename "$f" .t)")
    done
fi

# --- the work directory -------------------------------------------------------
#
#   PASS/NAME.{tap,err,rc}     each pass's result per file (plain, module,
#                              types; module-retry, types-retry)
#   PASS.prove.log             prove's own output, with each file's time
#   PASS.compare               the comparison with the plain pass
#   tmp/                       the tests' temp dirs (TMPDIR), the user's own
work="$(mktemp -d "${TMPDIR:-/tmp}/pe-compat.XXXXXX")"
chmod 755 "$work"
mkdir "$work/tmp"
if [ "$(id -u)" -eq 0 ]; then
    chown nobody "$work/tmp"
fi

cp "$module" "$work/ngx_http_privacy_module.so"
chmod 644 "$work/ngx_http_privacy_module.so"
head -c 48 /dev/urandom >"$work/privacy.key"
chmod 644 "$work/privacy.key"
if [ "$(id -u)" -eq 0 ] &&
   ! setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- \
        test -w "$work/tmp" -a -r "$work/privacy.key"; then
    echo "compat: nobody cannot reach $work; set TMPDIR to a directory" \
         "every user may enter" >&2
    exit 2
fi

# --- the module's configuration -----------------------------------------------
#
# In every http{} of every test (TEST_NGINX_GLOBALS_HTTP), so that every
# request goes through the module's post-read, preaccess and access
# handlers, its header filter and its request body filter.  Chosen so that
# a correct request passes:
#  - the region comes from a header no test sends, so every request is the
#    region "unknown", which is opt-in: the consent decision is made in
#    full on every request (cookies parsed, an explicit category, the
#    cookie filter both ways).  The default cookie classes
#    (conf/cookies.conf) name no cookie the tests use;
#  - a rate limit no test reaches: every response carries the RateLimit
#    and RateLimit-Policy headers.  The burst keeps "r=" at five digits
#    (50000 down to 10000), so that a response's length does not change
#    from one request to the next (limit_req.t compares two lengths);
#  - a 1g upload cap, which is on for every body (and counts chunked and
#    HTTP/2 bodies as they stream through the body filter), and which
#    replaces client_max_body_size only where it is set (README).
# The types pass adds privacy_upload_type */* 1g: every body must then
# declare a type.  It is a pass of its own because nginx-tests send their
# bodies without one, which the module refuses (415) before the body is
# read: in the module pass those bodies go through the body filter and
# nginx-tests check they arrive intact.
module_http="
privacy_key $work/privacy.key;
privacy_consent_category ai_processing explicit;
include $root/conf/cookies.conf;
privacy_region \$http_x_pe_compat_country;
privacy_region_policy default opt-out;
privacy_consent_cookie euconsent-v2 tcf;
privacy_consent_cookie pe_consent kv;
privacy_cookie_filter on;
privacy_limit_zone \$binary_remote_addr zone=pe_compat:10m rate=100000r/s;
privacy_limit zone=pe_compat burst=50000 nodelay;
privacy_upload_max_size 1g;
"
types_http="$module_http
privacy_upload_type */* 1g;
"
load="load_module $work/ngx_http_privacy_module.so;"

export TEST_NGINX_BINARY="$nginx" TEST_NGINX_MODULES="$modules"
export TMPDIR="$work/tmp"
unset TEST_NGINX_GLOBALS TEST_NGINX_GLOBALS_HTTP TEST_NGINX_GLOBALS_STREAM

# interrupted (Ctrl-C, make stopped): the running pass is stopped, each
# test with its nginx, and the work directory is left for a look
running=
stop() {
    if [ -n "$running" ]; then
        kill -TERM -- "-$running" 2>/dev/null || true
    fi
    echo "compat: interrupted; the work directory is $work" >&2
    exit 130
}
trap stop INT TERM HUP

# pass DIR [VAR=value ...]: the files of $run (names), $jobs at a time,
# through prove, each file's result kept in $work/DIR
pass() {
    local dir="$1" start
    shift
    mkdir "$work/$dir"
    start=$(date +%s)
    # prove and its runners in a session of their own, which stop() ends
    (cd "$suite" && exec setsid env "$@" prove -j"$jobs" --timer \
        --exec "$self --one $work/$dir" "${run[@]/%/.t}") \
        >"$work/$dir.prove.log" 2>&1 &
    running=$!
    wait "$running" || true
    running=
    echo "compat: $dir pass: ${#run[@]} files in $(( $(date +%s) - start ))s"
    # a pass that did not run every file says the setup is broken (prove,
    # Perl): it must not compare as "identical"
    if [ "$(find "$work/$dir" -name '*.rc' | wc -l)" -ne ${#run[@]} ]; then
        echo "compat: the $dir pass did not run; see $work/$dir.prove.log" >&2
        exit 2
    fi
}

# compare BASE OTHER EXPECTED NAME...: one line per file, "NAME VERDICT
# details", then the failing assertions of a new failure, indented.
#
# Each file's TAP is read with TAP::Parser.  What failed in a file: the
# numbers of its failing assertions (TODO ones are not failures), "plan"
# when it ran another number of tests than it planned, "timeout" when it
# was killed, "exit" when it exited non-zero without a failing assertion.
# A file that skipped everything (skip_all) has its reason instead.
# Verdicts: identical, skipped (in both), bothfail (the same failures in
# both), NEW (a failure only OTHER has, not listed in EXPECTED), expected
# (differs only by what EXPECTED lists for it), other (fixed by the
# module, or skipped only without it).
compare() {
    perl -MTAP::Parser -e '
        my ($work, $base, $other, $expf, @names) = @ARGV;
        my %exp;
        if ($expf ne "" && open my $e, "<", $expf) {
            while (<$e>) {
                s/#.*//;
                my ($f, $l) = split;
                next unless defined $l;
                $f =~ s/\.t$//;
                for (split /,/, $l) {
                    if (/^(\d+)-(\d+)$/) { $exp{$f}{$_} = 1 for $1 .. $2 }
                    else { $exp{$f}{$_} = 1 }
                }
            }
        }
        sub result {
            my ($dir, $name) = @_;
            local $/;
            open my $f, "<", "$work/$dir/$name.tap"
                or return { bad => ["missing"], lines => [] };
            my $tap = <$f>;
            open my $r, "<", "$work/$dir/$name.rc" or die "$name.rc: $!";
            my $rc = 0 + <$r>;
            my $p = TAP::Parser->new({ tap => $tap });
            my @lines;
            while (my $t = $p->next) {
                push @lines, $t->as_string if $t->is_test && !$t->is_ok;
            }
            return { skip => $p->skip_all } if defined $p->skip_all;
            my @bad = $p->failed;
            push @bad, "plan" unless $p->is_good_plan;
            if ($rc == 124 || $rc == 137) { push @bad, "timeout" }
            elsif ($rc && !$p->failed) { push @bad, "exit" }
            return { bad => \@bad, lines => \@lines };
        }
        for my $n (@names) {
            my ($x, $y) = (result($base, $n), result($other, $n));
            my $e = $exp{$n} || {};
            if (defined $x->{skip} || defined $y->{skip}) {
                if (!defined $y->{skip}) {
                    print "$n other skipped without the module only:",
                          " $x->{skip}\n";
                } elsif (!defined $x->{skip}) {
                    print "$n NEW skipped with the module only: $y->{skip}\n";
                } else {
                    print "$n skipped $x->{skip}\n";
                }
                next;
            }
            my %had = map { $_ => 1 } @{$x->{bad}};
            my %has = map { $_ => 1 } @{$y->{bad}};
            my @new = grep { !$had{$_} } @{$y->{bad}};
            my @unexp = grep { !$e->{$_} } @new;
            my @gone = grep { !$has{$_} } @{$x->{bad}};
            my @unused = sort { $a <=> $b } grep { /^\d+$/ && !$has{$_} }
                keys %$e;
            my $note = @unused ? " (listed, but passed: "
                . join(",", @unused) . ")" : "";
            if (@unexp) {
                my %u = map { $_ => 1 } @unexp;
                print "$n NEW ", join(",", @unexp),
                      (@new > @unexp ? " (and " . (@new - @unexp)
                       . " listed in compat-expected.txt)" : ""), "\n";
                for (@{$y->{lines}}) {
                    print "      $_\n" if /^not ok (\d+)/ && $u{$1};
                }
            } elsif (@new) {
                print "$n expected ", scalar(@new), " as listed$note\n";
            } elsif (@gone) {
                print "$n other fixed by the module: ", join(",", @gone),
                      "$note\n";
            } elsif (@{$x->{bad}}) {
                print "$n bothfail ", join(",", @{$x->{bad}}), "$note\n";
            } else {
                print "$n identical$note\n";
            }
        }
    ' "$work" "$@"
}

# check PASS EXPECTED VAR=value...: run PASS over all files, compare it
# with plain, run the files that differ once more, and keep the verdicts
# in $work/PASS.compare (a new failure that did not come back: "flaky")
check() {
    local p="$1" exp="$2" differ n verdict rest
    shift 2
    run=("${names[@]}")
    pass "$p" "$@"
    compare plain "$p" "$exp" "${names[@]}" >"$work/$p.compare"
    mapfile -t differ < <(awk '$2 == "NEW" { print $1 }' "$work/$p.compare")
    if [ ${#differ[@]} -gt 0 ]; then
        run=("${differ[@]}")
        pass "$p-retry" "$@"
        while read -r n verdict rest; do
            if [ "$verdict" != "NEW" ]; then
                sed -i "s/^$n NEW /$n flaky /" "$work/$p.compare"
            fi
        done < <(compare plain "$p-retry" "$exp" "${differ[@]}" \
                 | grep -v '^ ')
    fi
}

echo "compat: nginx-tests at $suite, $("$nginx" -v 2>&1 | sed 's/.*: //')," \
     "$jobs files at a time; work in $work"
started=$(date +%s)
run=("${names[@]}")
pass plain
# nothing passing without the module says the same (the suite's modules,
# its Perl packages, the user)
if [ ${#names[@]} -gt 10 ] && ! grep -qx 0 "$work/plain"/*.rc; then
    echo "compat: no test passed without the module; see $work/plain/" >&2
    exit 2
fi
check module "" TEST_NGINX_GLOBALS="$load" TEST_NGINX_GLOBALS_HTTP="$module_http"
check types "$expected" TEST_NGINX_GLOBALS="$load" \
    TEST_NGINX_GLOBALS_HTTP="$types_http"

# --- the report ---------------------------------------------------------------
for p in module types; do
    echo "compat: $p pass, where it differs from plain:"
    grep -E '^(\S+ (NEW|flaky|other|expected)| )|listed, but passed' \
        "$work/$p.compare" | sed 's/^/  /' || echo "  nothing"
done

# per file: identical when neither pass differs (skipped and bothfail
# included), new when either has a NEW, else the worst of the rest
read -r total identical expect flaky other new < <(
    awk '{ v = $2
           if (v == "identical" || v == "skipped" || v == "bothfail") r = 0
           else if (v == "expected") r = 1
           else if (v == "flaky") r = 2
           else if (v == "other") r = 3
           else if (v == "NEW") r = 4
           else next
           if (!($1 in w) || r > w[$1]) w[$1] = r }
         END { for (f in w) { n++; c[w[f]]++ }
               printf "%d %d %d %d %d %d\n", n, c[0], c[1], c[2], c[3],
                      c[4] }' "$work/module.compare" \
                                    "$work/types.compare")
skipped=$(awk '$2 == "skipped"' "$work/module.compare" | wc -l)
bothfail=$(awk '$2 == "bothfail"' "$work/module.compare" | wc -l)
echo "compat: $skipped files skip in every pass (a module, daemon or Perl" \
     "package they need is not here, or unsafe); $bothfail fail the same" \
     "way without the module"
echo "compat: ${total} files, ${identical} identical, ${new} new failures" \
     "(${expect} differ only as scripts/compat-expected.txt lists," \
     "${flaky} flaky, ${other} other differences) in" \
     "$(( $(date +%s) - started ))s"

if [ "$new" -gt 0 ]; then
    echo "compat: FAILED; every file's TAP is in $work"
    exit 1
fi
if [ "${COMPAT_KEEP:-0}" = 1 ] || [ -n "${TEST_NGINX_LEAVE:-}" ]; then
    echo "compat: kept $work"
else
    rm -rf "$work"
fi
