#!/bin/sh
# Seed the cargo-fuzz corpora from the schedule test fixtures (each input's
# first byte selects options; see fuzz_targets/). Run from fuzz/.
set -eu
F=../tests/fixtures/schedule
mkdir -p corpus/schedule_ics corpus/schedule_csv corpus/schedule_fhir
for f in exchange google malformed; do
  for s in 0 2; do { printf "\\00$s"; cat "$F/$f.ics"; } > "corpus/schedule_ics/$f-$s"; done
done
for f in extra-columns malformed; do { printf '\000'; cat "$F/$f.csv"; } > "corpus/schedule_csv/$f"; done
{ printf '\004'; sed 's/Datum/day/; s/Uhrzeit/t/; s/Dauer (min)/d/; s/Terminart/k/; s/Gerät/r/' "$F/aria-export.csv"; } > corpus/schedule_csv/aria
for f in fhir-page1 fhir-page2 malformed; do { printf '\000'; cat "$F/$f.json"; } > "corpus/schedule_fhir/$f"; done
# The metric parsers' targets start from the committed seeds.
for t in recording_csv query_range_json exposition; do
  mkdir -p "corpus/$t" && cp seeds/$t/* "corpus/$t/"
done
