# tests/vm/results.awk: turns the guests' ttyS1 logs into the kernel x test
# table. Input files: tests.tsv (LABEL<TAB>TEST, the tests the binaries
# list) and kernels.tsv (NAME<TAB>RUNDIR<TAB>PACKAGE<TAB>VERSION). Reads
# RUNDIR/results.log, RUNDIR/status and RUNDIR/console.log itself.
# Variables: strict, cli, cli_size, triple, md (markdown output), total.
# Exit status 1 if a cell is FAIL, hung, timeout or not run, a binary ended
# badly, or a kernel did not boot or did not finish.
BEGIN { FS = "\t"; nrows = 0; nk = 0; nfeats = 0 }

function addrow(r) { if (!(r in isrow)) { isrow[r] = 1; rows[++nrows] = r } }
function clean(s) { gsub(/\r/, "", s); return s }
function short(s, n) { return length(s) > n ? substr(s, 1, n - 3) "..." : s }
function esc(s) { gsub(/\|/, "\\|", s); return s }

FILENAME ~ /tests\.tsv$/ { addrow($1 "::" $2); next }
FILENAME ~ /kernels\.tsv$/ { nk++; kname[nk] = $1; kdir[nk] = $2; kpkg[nk] = $3; kver[nk] = $4; next }

function parse(k, file, line, label, sect, name, m, rest, f, n, st, words, i, kv) {
  booted[k] = 0; done[k] = 0; label = ""; sect = ""
  while ((getline line < file) > 0) {
    line = clean(line)
    if (line ~ /^@@VM /) {
      booted[k] = 1
      if (match(line, /release=[^ ]*/)) release[k] = substr(line, RSTART + 8, RLENGTH - 8)
      continue
    }
    if (line ~ /^@@DONE/) { done[k] = 1; continue }
    if (line ~ /^@@PROBE /) {
      m = substr(line, 9); i = index(m, ": ")
      if (i) { f[1] = substr(m, 1, i - 1); if (!(f[1] in isfeat)) { isfeat[f[1]] = 1; feats[++nfeats] = f[1] }; probe[k, f[1]] = substr(m, i + 2) }
      continue
    }
    if (line ~ /^@@BIN .* START/) {
      split(line, words, " "); label = words[2]; sect = "run"; curfail = ""
      bins[k, label] = "started"; binlist[label] = 1
      continue
    }
    if (line ~ /^@@BIN .* END/) {
      split(line, words, " ")
      for (i = 4; i <= 7; i++) { split(words[i], kv, "="); binfo[k, words[2], kv[1]] = kv[2] }
      bins[k, words[2]] = binfo[k, words[2], "state"]
      sect = ""; continue
    }
    if (line ~ /^@@REPORT .* BEGIN/) { split(line, words, " "); label = words[2]; sect = "report"; continue }
    if (line ~ /^@@REPORT .* END/) { sect = ""; continue }
    if (line ~ /^@@STUCK /) { stuck[k] = stuck[k] "\n    " substr(line, 9); continue }
    if (line ~ /^@@ALIVE /) continue
    if (sect == "report") {
      n = split(line, f, "\t")
      if (n < 2) continue
      name = label "::" f[2]; rest = n >= 3 ? f[3] : ""
      for (i = 4; i <= n; i++) rest = rest " " f[i]
      if (f[1] == "SKIP") { skip[k, name] = rest; addrow(name) }
      else if (f[1] == "KBUG") { kbug[k, name] = (kbug[k, name] != "" ? kbug[k, name] "; " : "") rest; addrow(name) }
      continue
    }
    if (sect == "run") {
      # libtest status lines (also printed by the harness = false binaries);
      # after "successes:"/"failures:" come captured outputs, not statuses.
      if (line == "successes:" || line == "failures:") { sect = "captured"; curfail = ""; continue }
      if (match(line, /^test .* \.\.\. (ok|FAILED|ignored)/)) {
        m = substr(line, 6)
        i = index(m, " ... "); name = label "::" substr(m, 1, i - 1); st = substr(m, i + 5)
        addrow(name)
        if (st ~ /^ok/) status[k, name] = "ok"
        else if (st ~ /^ignored/) status[k, name] = "ignored"
        else {
          status[k, name] = "FAILED"
          sub(/^FAILED:? ?/, "", st)
          if (st != "") ftext[k, name] = st
        }
      }
      continue
    }
    if (sect == "captured") {
      if (match(line, /^---- .* (stdout|stderr) ----$/)) {
        curfail = line; sub(/^---- /, "", curfail); sub(/ std(out|err) ----$/, "", curfail)
        curfail = label "::" curfail; nlines[k, curfail] = 0
        continue
      }
      if (line ~ /^test result:/ || line ~ /^failures:$/) { curfail = ""; continue }
      if (curfail != "" && line != "" && line !~ /^note: run with `RUST_BACKTRACE/ && nlines[k, curfail] < 6 && status[k, curfail] == "FAILED") {
        ftext[k, curfail] = ftext[k, curfail] (nlines[k, curfail] ? "\n" : "") short(line, 240)
        nlines[k, curfail]++
      }
    }
  }
  close(file)
  if ((getline line < (kdir[k] "/status")) > 0) { split(line, words, " "); vmstate[k] = words[1]; vmsecs[k] = words[2] }
  close(kdir[k] "/status")
  oops[k] = 0
  file = kdir[k] "/console.log"
  while ((getline line < file) > 0)
    if (line ~ /(Oops|BUG:|WARNING:|general protection fault|Kernel panic|KASAN)/) {
      oops[k]++; if (oops[k] <= 4) oopsl[k] = oopsl[k] "\n    " clean(line)
      # A kernel crash fails the matrix even when every test passed (a
      # WARNING alone does not: some kernel rules warn by design).
      if (line !~ /WARNING:/) crashed[k] = 1
    }
    else if (line ~ / Comm: / && oops[k] && ncomm[k]++ < 2) oopsl[k] = oopsl[k] "\n    " clean(line)
  close(file)
}

function cell(k, r, lab, st) {
  st = status[k, r]
  if (st == "FAILED") return "FAIL"
  if ((k, r) in kbug) return "kernel bug: " kbug[k, r]
  if ((k, r) in skip) return "skip: " skip[k, r]
  if (st == "ok") return "pass"
  if (st == "ignored") return "ignored"
  lab = r; sub(/::.*/, "", lab)
  if (bins[k, lab] == "hung") return "hung"
  if (bins[k, lab] == "timeout") return "timeout"
  return "not run"
}

function out(s) { print s; print s > md }

END {
  bad = 0
  # A kernel without a second serial port writes the results to its console.
  for (k = 1; k <= nk; k++) { parse(k, kdir[k] "/results.log"); if (!booted[k]) parse(k, kdir[k] "/console.log") }
  head = "| test |"; sep = "|---|"
  for (k = 1; k <= nk; k++) { head = head " " kname[k] " |"; sep = sep "---|" }
  printf "" > md
  out("## Kernel matrix (" (strict ? "strict" : "not strict") ")"); out("")
  out(head); out(sep)
  for (i = 1; i <= nrows; i++) {
    line = "| " esc(rows[i]) " |"
    for (k = 1; k <= nk; k++) {
      c = cell(k, rows[i])
      kind = c ~ /^skip/ ? "skip" : (c ~ /^kernel bug/ ? "kbug" : c)
      count[k, kind]++
      if (c == "FAIL" || c == "hung" || c == "timeout" || c == "not run") { bad = 1; why[++nwhy] = kname[k] " " rows[i] ": " c }
      line = line " " esc(short(c, 60)) " |"
    }
    out(line)
  }
  out(""); out("### Features (bpf-arena probe, as root)"); out("")
  fhead = head; sub(/^\| test \|/, "| feature |", fhead)
  out(fhead); out(sep)
  for (i = 1; i <= nfeats; i++) {
    line = "| " feats[i] " |"
    for (k = 1; k <= nk; k++) line = line " " esc(probe[k, feats[i]] != "" ? probe[k, feats[i]] : "?") " |"
    out(line)
  }
  out(""); out("### Kernels"); out("")
  out("| kernel | uname -r | package | version | result | wall |"); out("|---|---|---|---|---|---|")
  for (k = 1; k <= nk; k++) {
    r = !booted[k] ? "did not boot (" vmstate[k] ")" : !done[k] ? "did not finish (" vmstate[k] ")" : "ran"
    if (!booted[k] || !done[k]) { bad = 1; why[++nwhy] = kname[k] ": " r }
    out("| " kname[k] " | " (release[k] != "" ? release[k] : "?") " | " kpkg[k] " | " kver[k] " | " r " | " vmsecs[k] " s |")
  }
  out(""); out("### Summary"); out("")
  for (k = 1; k <= nk; k++) {
    s = sprintf("%s: %d pass, %d FAIL, %d skip, %d kernel bug, %d ignored, %d hung/timeout, %d not run; %s s",
      kname[k], count[k, "pass"], count[k, "FAIL"], count[k, "skip"], count[k, "kbug"], count[k, "ignored"],
      count[k, "hung"] + count[k, "timeout"], count[k, "not run"], vmsecs[k])
    if (oops[k]) s = s "; console: " oops[k] " oops/BUG/WARNING lines"
    if (crashed[k]) { s = s " (the kernel crashed: FAIL)"; bad = 1; why[++nwhy] = kname[k] ": the kernel crashed" }
    out("- " s)
  }
  for (k = 1; k <= nk; k++)
    for (lab in binlist)
      if (bins[k, lab] != "" && (bins[k, lab] != "done" || binfo[k, lab, "rc"] !~ /^(0|101)$/)) {
        if (bins[k, lab] != "done" || binfo[k, lab, "rc"] != 1) { bad = 1; why[++nwhy] = kname[k] ": binary " lab " ended: state " bins[k, lab] ", exit status " binfo[k, lab, "rc"] }
        out("- " kname[k] ": binary " lab " ended: state " bins[k, lab] ", exit status " binfo[k, lab, "rc"] ", " binfo[k, lab, "secs"] " s")
      }
  out("- static bpf-arena CLI (" triple ", bash .ci/min-size): " cli_size " bytes" (cli_size > 800000 ? " (ABOVE 800 KB: FAIL)" : ""))
  if (cli_size > 800000) { bad = 1; why[++nwhy] = "static CLI above 800 KB: " cli_size " bytes" }
  out("- total wall time: " total " s")
  nf = 0
  for (k = 1; k <= nk; k++) for (i = 1; i <= nrows; i++) {
    c = cell(k, rows[i])
    if (c != "FAIL" && c !~ /^(kernel bug|skip)/ && c != "hung" && c != "timeout") continue
    if (!nf++) { out(""); out("### Failures, kernel bugs, skips and hangs (first lines)"); out("") }
    out("- " kname[k] " " rows[i] ": " c)
    t = c == "FAIL" ? ftext[k, rows[i]] : ""
    gsub(/\n/, "\n      ", t)
    if (t != "") out("      " t)
  }
  for (k = 1; k <= nk; k++) {
    if (stuck[k] != "") { out(""); out("- " kname[k] " stuck processes:" stuck[k]) }
    if (oops[k]) { out(""); out("- " kname[k] " console (first Oops/BUG/WARNING lines; Comm is the test thread, its name cut to 15 characters):" oopsl[k]) }
  }
  # Last, so that a log cut to its tail still says why the run failed.
  if (bad) {
    out(""); out("### Why this run failed (" nwhy " reason(s), first 40)"); out("")
    for (i = 1; i <= nwhy && i <= 40; i++) out("- " why[i])
  }
  exit bad
}
