#!/bin/sh
# make_espeak_digits.sh OUTDIR - spoken digits from the espeak-ng speech
# synthesiser (Debian: apt-get install espeak-ng sox), out-of-domain test
# audio for the speech models (docs/speech.md):
#
#   OUTDIR/isolated/D_espeak-VOICE-RATE_0.wav   every digit D in 5 English
#       voices x 2 variants (male, +f3) x 2 speaking rates: 200 files
#   OUTDIR/connected/D-D-..._espeak-VOICE_N.wav 60 digit strings of 2-7
#       digits (fixed list, from a seeded generator), spoken by 6 voices
#
# The file names start with the digits spoken, which `recur transcribe
# --score` reads as the reference. espeak pads its output with silence;
# the Free Spoken Digit recordings are trimmed, so leading and trailing
# silence is trimmed here the same way (sox silence, 1% threshold). Files
# are 22.05 kHz; recur resamples them to the model's rate.
set -eu
out=${1:?usage: make_espeak_digits.sh OUTDIR}
command -v espeak-ng >/dev/null || { echo "needs espeak-ng (apt-get install espeak-ng)" >&2; exit 1; }
command -v sox >/dev/null || { echo "needs sox (apt-get install sox)" >&2; exit 1; }
mkdir -p "$out/isolated" "$out/connected"
words="zero one two three four five six seven eight nine"
trim() { # in out
    sox "$1" "$2" silence 1 0.01 1% reverse silence 1 0.01 1% reverse
    rm -f "$1"
}
for voice in en-us en-gb en-gb-scotland en-029 en-gb-x-rp; do
    for variant in "" "+f3"; do
        for rate in 130 175; do
            d=0
            for w in $words; do
                tag=$(echo "$voice$variant-$rate" | tr -d '+')
                espeak-ng -v "$voice$variant" -s "$rate" -w "$out/tmp.wav" "$w"
                trim "$out/tmp.wav" "$out/isolated/${d}_espeak-${tag}_0.wav"
                d=$((d + 1))
            done
        done
    done
done
# Digit strings: a small linear congruential generator, so that the list
# is the same everywhere.
seed=12345
next() { seed=$(( (seed * 1103515245 + 12345) % 2147483648 )); }
n=0
while [ $n -lt 60 ]; do
    next; len=$(( 2 + (seed / 65536) % 6 ))
    digits=""; text=""
    i=0
    while [ $i -lt $len ]; do
        next; dg=$(( (seed / 65536) % 10 ))
        digits="${digits:+$digits-}$dg"
        text="$text $(echo $words | cut -d' ' -f$((dg + 1))),"
        i=$((i + 1))
    done
    for voice in en-us en-gb en-gb-scotland en-029 en-us+f3 en-gb+f3; do
        case $(( n % 6 )) in
        0) [ "$voice" = en-us ] || continue ;;
        1) [ "$voice" = en-gb ] || continue ;;
        2) [ "$voice" = en-gb-scotland ] || continue ;;
        3) [ "$voice" = en-029 ] || continue ;;
        4) [ "$voice" = en-us+f3 ] || continue ;;
        5) [ "$voice" = en-gb+f3 ] || continue ;;
        esac
        tag=$(echo "$voice" | tr -d '+')
        espeak-ng -v "$voice" -s 150 -w "$out/tmp.wav" "$text"
        trim "$out/tmp.wav" "$out/connected/${digits}_espeak-${tag}_${n}.wav"
    done
    n=$((n + 1))
done
echo "$(ls "$out/isolated" | wc -l) isolated and $(ls "$out/connected" | wc -l) connected files in $out"
