# recur - build, test, bench.
#
#   make                 the static and shared library and bin/recur
#   make test            build and run the whole test suite
#   make test-sanitize   the suite again under AddressSanitizer + UBSan
#   make test-valgrind   the suite under valgrind --leak-check=full
#   make bench           build the benchmarks (run them from bench/)
#   make bench-compare   recur side by side with PyTorch (docs/performance.md)
#   make BLAS=none       use the portable matrix multiply, not OpenBLAS
#   make CC=clang        any C11 compiler

CC      ?= cc
BLAS    ?= auto
BUILD   ?= build
OPT     ?= -O3
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN    += -Werror
endif
CPPFLAGS += -Iinclude -Isrc -DRC_SOURCE_DIR=\"$(CURDIR)\"
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) $(CFLAGS) -fPIC
LDLIBS  := -lm -pthread

# ---- BLAS: OpenBLAS through pkg-config, unless BLAS=none ----
ifneq ($(BLAS),none)
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null)
ifneq ($(BLAS_LIBS),)
CPPFLAGS += -DRC_HAVE_CBLAS $(BLAS_CFLAGS)
LDLIBS   := $(BLAS_LIBS) $(LDLIBS)
else ifeq ($(BLAS),openblas)
$(error BLAS=openblas but pkg-config finds no openblas: apt-get install libopenblas-dev)
endif
endif

LIB_SRC  := $(wildcard src/core/*.c src/autograd/*.c src/ops/*.c src/nn/*.c src/train/*.c src/io/*.c)
CLI_SRC  := $(wildcard src/tasks/*.c src/cli/*.c src/plot/*.c src/audio/*.c)
TEST_SRC := $(wildcard tests/*.c)
BENCH_SRC := $(wildcard bench/*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
# The tests link the command's own code too (all but its main), to test it.
TEST_CLI_OBJ := $(filter-out %/cli/main.o,$(CLI_OBJ))

# cairo (and its fontconfig) draws the plots: src/plot, in bin/recur and the
# tests, not the library. Looked up when a recipe runs, so that check-cairo
# can install it first.
CAIRO_CFLAGS = $(shell pkg-config --cflags cairo fontconfig 2>/dev/null)
CAIRO_LIBS   = $(shell pkg-config --libs cairo fontconfig 2>/dev/null)
# libsndfile (reading sound files), FFTW (single precision) and
# libsamplerate: src/audio, in bin/recur and the tests; installed by
# check-audio like cairo.
AUDIO_PKGS    := sndfile fftw3f samplerate
AUDIO_CFLAGS = $(shell pkg-config --cflags $(AUDIO_PKGS) 2>/dev/null)
AUDIO_LIBS   = $(shell pkg-config --libs $(AUDIO_PKGS) 2>/dev/null)

STATIC := $(BUILD)/lib/librecur.a
SHARED := $(BUILD)/lib/librecur.so
# The command: bin/recur for the default build; other build directories
# (sanitizers, clang, BLAS=none) get their own, so that they do not
# overwrite each other's, and their tests run the recur built with them.
RECUR  := $(if $(filter build,$(BUILD)),bin/recur,$(BUILD)/bin/recur)
TESTS  := $(BUILD)/tests/run_tests
BENCHES := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all test test-sanitize test-valgrind bench bench-compare clean check-deps check-cairo check-audio demo
all: check-cairo check-audio $(STATIC) $(SHARED) $(RECUR)

$(BUILD)/%.o: %.c $(wildcard include/*.h src/*.h src/*/*.h tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/src/plot/%.o $(BUILD)/tests/%.o: CPPFLAGS += $(CAIRO_CFLAGS)
$(BUILD)/tests/%.o: CPPFLAGS += -DTEST_RECUR='"$(CURDIR)/$(RECUR)"'
$(BUILD)/src/audio/%.o $(BUILD)/tests/%.o: CPPFLAGS += $(AUDIO_CFLAGS)
$(filter $(BUILD)/src/plot/%,$(CLI_OBJ)) $(TEST_OBJ): | check-cairo
$(filter $(BUILD)/src/audio/%,$(CLI_OBJ)) $(TEST_OBJ): | check-audio

$(RECUR): $(CLI_OBJ) $(STATIC) | check-cairo check-audio
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(STATIC) $(LDFLAGS) $(CAIRO_LIBS) $(AUDIO_LIBS) $(LDLIBS)

# ---- dependencies ----
# A missing cairo (plots) or cmocka (tests) is installed when running as
# root, else we say how. A plain `make` needs only cairo.
check-cairo:
	@pkg-config --exists cairo fontconfig 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing libcairo2-dev"; \
	    apt-get install -y -q libcairo2-dev pkg-config >/dev/null || \
	    { apt-get update -q >/dev/null && apt-get install -y -q libcairo2-dev pkg-config >/dev/null; }; \
	  else echo "recur: the plots need cairo: sudo apt-get install libcairo2-dev pkg-config" >&2; exit 1; fi; }

AUDIO_DEBS := libsndfile1-dev libfftw3-dev libsamplerate0-dev pkg-config
check-audio:
	@pkg-config --exists $(AUDIO_PKGS) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $(AUDIO_DEBS)"; \
	    apt-get install -y -q $(AUDIO_DEBS) >/dev/null || \
	    { apt-get update -q >/dev/null && apt-get install -y -q $(AUDIO_DEBS) >/dev/null; }; \
	  else echo "recur: the audio front end needs libsndfile, FFTW and libsamplerate: sudo apt-get install $(AUDIO_DEBS)" >&2; exit 1; fi; }

# ---- tests (cmocka) ----
check-deps: check-cairo check-audio
	@pkg-config --exists cmocka 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing libcmocka-dev"; \
	    apt-get install -y -q libcmocka-dev pkg-config >/dev/null || \
	    { apt-get update -q >/dev/null && apt-get install -y -q libcmocka-dev pkg-config >/dev/null; }; \
	  else echo "recur: the tests need cmocka: sudo apt-get install libcmocka-dev pkg-config" >&2; exit 1; fi; }

# The CLI tests run this build's recur (TEST_RECUR), so it is built with them.
$(TESTS): $(TEST_OBJ) $(TEST_CLI_OBJ) $(STATIC) $(RECUR) | check-cairo check-audio
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(TEST_OBJ) $(TEST_CLI_OBJ) $(STATIC) $(LDFLAGS) \
	  $$(pkg-config --libs cmocka) $(CAIRO_LIBS) $(AUDIO_LIBS) $(LDLIBS)

test: check-deps
	@$(MAKE) --no-print-directory $(TESTS) $(RECUR)
	$(TESTS)

SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
test-sanitize: check-deps
	@$(MAKE) --no-print-directory BUILD=build-sanitize CFLAGS="$(SAN_FLAGS)" \
	  LDFLAGS="-fsanitize=address,undefined" build-sanitize/tests/run_tests build-sanitize/bin/recur
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build-sanitize/tests/run_tests

# VALGRIND_GROUPS="core ops ...": only those test groups (default: all).
VALGRIND_GROUPS ?=
test-valgrind: check-deps
	@$(MAKE) --no-print-directory $(TESTS)
	valgrind --leak-check=full --error-exitcode=1 --errors-for-leak-kinds=definite,indirect \
	  $(TESTS) $(VALGRIND_GROUPS)

# ---- benchmarks ----
bench: $(BENCHES)
$(BUILD)/bench/%: bench/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -O3 -o $@ $< $(STATIC) $(LDFLAGS) $(LDLIBS)

# recur and PyTorch (Debian's python3-torch) on the same workloads, in
# turns: bench/compare.py. COMPARE_FLAGS="--rounds 5 --only lstm" etc. With
# BLAS=none the ceiling still comes from the OpenBLAS build in build/ when
# it is there.
COMPARE_FLAGS ?=
bench-compare: $(BUILD)/bench/bench_rnn
	@/usr/bin/python3 -c 'import torch' 2>/dev/null || { \
	  echo "recur: bench-compare needs PyTorch: sudo apt-get install python3-torch" >&2; exit 1; }
	/usr/bin/python3 bench/compare.py --recur $(BUILD)/bench/bench_rnn $(COMPARE_FLAGS)

clean:
	rm -rf build build-sanitize build-* bin

# ---- the main job: a character-level LSTM on tiny-shakespeare ----
# A few minutes on 2 cores: train (with a checkpoint to resume from), then
# evaluate on the held-out last 10% and print a sample.
DEMO_DIR   ?= runs/demo
DEMO_STEPS ?= 1500
demo: all
	scripts/fetch-data lm
	@mkdir -p $(DEMO_DIR)
	bin/recur train lm --data data/lm/tinyshakespeare.txt --valid-fraction 0.1 \
	  --cell lstm --hidden 256 --layers 2 --embed 64 --dropout 0.1 --batch 32 --bptt 64 \
	  --lr 0.003 --schedule cosine --warmup 50 --steps $(DEMO_STEPS) --eval-every 250 \
	  --out $(DEMO_DIR)/shakespeare.model
	bin/recur eval $(DEMO_DIR)/shakespeare.model data/lm/tinyshakespeare.txt --last-fraction 0.1
	bin/recur sample $(DEMO_DIR)/shakespeare.model --prime "ROMEO:" --length 600 \
	  --temperature 0.8 --seed 1
