# poseforge: every target below is a real file with real prerequisites, so re-running a
# finished target does nothing and touching a checkpoint redoes what depends on it.
# Stages write to a temporary file and rename it, and make deletes a target whose recipe
# failed (.DELETE_ON_ERROR): an interrupted run never leaves a target that looks done.

MODEL ?= human-pose-estimation-0001
CHECKPOINT ?=
DATA ?= $(or $(POSEFORGE_DATA),$(HOME)/.cache/poseforge)
COCO ?= $(DATA)/coco-val
BUILD ?= build
BASELINE ?= baselines/$(MODEL).json
PRECISION ?= fp32
DIST ?= dist

# --- what make is given ---------------------------------------------------------------------
# Variables given to make (on its command line or from the environment) are text, never code:
# every one that reaches a recipe is single-quoted there (q), so that backticks, quotes or ; in a
# path or a branch name reach poseforge as they are. A $ in one would make make itself expand it,
# and a path that make cannot hold as a target name (whitespace, or one of ; : | % * ? [ ] ~ and
# the hash sign, which make reads as syntax) is refused in one line before anything runs: make's
# own `Makefile:N: *** poseforge: error: ... Stop.`
q = '$(subst ','\'',$(1))'
PATH_VARIABLES := MODEL CHECKPOINT DATA POSEFORGE_DATA COCO BUILD CALIB BASELINE PRECISION DIST
TEXT_VARIABLES := MAX_DROP QUANTIZE_OPTS SPEED_ITERATIONS SPEED_SECONDS BENCH_SECONDS STAGES HEIGHTS
given = $(or $(findstring command,$(origin $(1))),$(findstring environment,$(origin $(1))),$(findstring override,$(origin $(1))))
$(foreach v,$(PATH_VARIABLES) $(TEXT_VARIABLES),$(if $(call given,$(v)),$(if $(findstring $$,$(value $(v))),\
	$(error poseforge: error: $(v)= holds a $$, which make would expand: refused, nothing run))))
MAKE_SYNTAX := ; : | % * ? [ ] ~ \#
unfit = $(or $(word 2,$(1)),$(strip $(foreach c,$(MAKE_SYNTAX),$(findstring $(c),$(1)))))
check_paths = $(foreach v,$(1),$(if $(call unfit,$($(v))),$(error poseforge: error: $(v)=$($(v)) holds whitespace \
	or one of $(MAKE_SYNTAX), which make cannot take in a path: refused, nothing run)))
$(call check_paths,MODEL CHECKPOINT DATA POSEFORGE_DATA COCO BUILD BASELINE PRECISION DIST)
define NEWLINE


endef
# Options and numbers are recorded in ir/int8/settings.mk, which make reads back: one line each.
$(foreach v,$(TEXT_VARIABLES),$(if $(or $(findstring $(NEWLINE),$($(v))),$(findstring \#,$($(v)))),\
	$(error poseforge: error: $(v)= holds a line break or a hash sign: refused, nothing run)))

VENV := .venv
PF := $(VENV)/bin/poseforge
STAMP := $(VENV)/.installed
OUT := $(BUILD)/$(MODEL)
OMZ_IR := $(DATA)/omz/human-pose-estimation-0001/FP16-INT8/human-pose-estimation-0001.xml

.DELETE_ON_ERROR:
.PHONY: all setup setup-cluster test test-fast lint checkpoint onnx simplify ir-fp32 ir-fp16 ir omz-int8 parity fetch clean
.PHONY: validate report bench int8 gate baseline FORCE
FORCE:

all: report bench

# --- set-up -----------------------------------------------------------------------------
# requirements.lock pins every package, transitive ones included (torch==2.13.0, CPU build).
setup: $(STAMP)
$(STAMP): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	$(VENV)/bin/pip check
	touch $@

# The poseforge wheel (pure Python) into $(DIST), for an install where there is no network: the
# README's install section, which tests/deploy/test_base_install.py runs as written.
.PHONY: wheel
wheel: $(STAMP)
	$(VENV)/bin/pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir $(DIST) .

# The cluster extra (Ray, for validate/bench/sweep --ray), never part of `setup`: exactly the pins of
# requirements-cluster.lock on top of requirements.lock (--no-deps; pip check proves nothing is missing).
CLUSTER_STAMP := $(VENV)/.cluster-installed
setup-cluster: $(CLUSTER_STAMP)
$(CLUSTER_STAMP): $(STAMP) requirements-cluster.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements-cluster.lock
	$(VENV)/bin/pip check
	touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check poseforge tests
	$(VENV)/bin/ruff format --check poseforge tests

test: lint
	POSEFORGE_DATA=$(call q,$(DATA)) $(VENV)/bin/pytest -q

# The unit tier: no data assets, no make-built artifacts (tests needing them are marked `data`).
test-fast: $(STAMP)
	env -u POSEFORGE_DATA $(VENV)/bin/pytest -q -m "not data and not slow"

fetch: $(STAMP)
	$(PF) fetch all --data $(call q,$(DATA))

# The default image sets, fetched from the official URLs when a target needs them and they are missing.
$(DATA)/coco-val/annotations/person_keypoints_val2017.json: | $(STAMP)
	$(PF) fetch coco-val --data $(call q,$(DATA))
$(DATA)/coco-calib/train2017: | $(STAMP)
	$(PF) fetch coco-calib --data $(call q,$(DATA))

# --- checkpoint ---------------------------------------------------------------------------
# The default model's weights are imported from the Open Model Zoo IR in the data directory
# (fetched from the official URL when missing); any other model needs CHECKPOINT=.
ifneq ($(CHECKPOINT),)
$(OUT)/model.pth: $(CHECKPOINT) | $(STAMP)
	$(PF) checkpoint --model $(call q,$(MODEL)) $(call q,$(CHECKPOINT)) -o $(call q,$@)
$(CHECKPOINT):
	@printf '%s\n' $(call q,poseforge: error: checkpoint not found: $@) >&2; exit 1
else ifeq ($(MODEL),human-pose-estimation-0001)
$(OUT)/model.pth: $(OMZ_IR) | $(STAMP)
	$(PF) import-ir $(call q,$(OMZ_IR)) -o $(call q,$@)
$(OMZ_IR): | $(STAMP)
	$(PF) fetch omz --data $(call q,$(DATA))
else ifeq ($(MODEL),openpose-vgg19)
# No trained weights exist for it here: a random-init checkpoint, for complexity and speed only
# (STAGES=N: N stages as the paper counts them, initial + refinement; the COCO release has 6).
$(OUT)/model.pth: | $(STAMP)
	$(PF) init --model $(call q,$(MODEL)) $(if $(STAGES),--stages $(call q,$(STAGES))) --seed 0 -o $(call q,$@)
else
$(OUT)/model.pth:
	@printf '%s\n' $(call q,poseforge: error: MODEL=$(MODEL) needs CHECKPOINT=path/to/checkpoint.pth) >&2; exit 2
endif

# --- convert ------------------------------------------------------------------------------
$(OUT)/model.onnx: $(OUT)/model.pth
	$(PF) export $(call q,$<) -o $(call q,$@)

$(OUT)/model.sim.onnx: $(OUT)/model.onnx
	$(PF) simplify $(call q,$<) -o $(call q,$@)

$(OUT)/ir/fp32/model.xml: $(OUT)/model.sim.onnx
	$(PF) convert $(call q,$<) --precision fp32 -o $(call q,$@)

$(OUT)/ir/fp16/model.xml: $(OUT)/model.sim.onnx
	$(PF) convert $(call q,$<) --precision fp16 -o $(call q,$@)

checkpoint: $(OUT)/model.pth
onnx: $(OUT)/model.onnx
simplify: $(OUT)/model.sim.onnx
ir-fp32: $(OUT)/ir/fp32/model.xml
ir-fp16: $(OUT)/ir/fp16/model.xml
ir: ir-fp32 ir-fp16

# The Open Model Zoo INT8 release, registered as the `omz-int8` reference artifact.
$(OUT)/ir/omz-int8/model.xml: $(OMZ_IR) | $(STAMP)
	$(PF) reference-ir $(call q,$(OMZ_IR)) -o $(call q,$@)
omz-int8: $(OUT)/ir/omz-int8/model.xml

# Every artifact against the checkpoint: the conversions by max abs, the INT8 IR by cosine.
parity: ir int8
	$(PF) parity $(call q,$(OUT)) --images $(call q,$(COCO)/val2017) \
		$(if $(wildcard $(OMZ_IR)),$(if $(filter human-pose-estimation-0001,$(MODEL)),--omz-ir $(call q,$(OMZ_IR))))

# --- quantize ---------------------------------------------------------------------------------
# INT8 with NNCF from the FP32 IR, calibrated on CALIB (default: train2017 images, disjoint from
# the val2017 images validation scores; quantize refuses an overlap). MAX_DROP switches on
# accuracy control, QUANTIZE_OPTS passes other `poseforge quantize` options. The settings an
# INT8 IR was made with are recorded beside it (settings.mk): a later make without them keeps
# them; a make with other settings re-quantizes, and says so.
INT8_STAMP := $(OUT)/ir/int8/settings.mk
-include $(INT8_STAMP)
ifdef RECORDED_INT8
CALIB ?= $(RECORDED_CALIB)
MAX_DROP ?= $(RECORDED_MAX_DROP)
QUANTIZE_OPTS ?= $(RECORDED_QUANTIZE_OPTS)
else
CALIB ?= $(DATA)/coco-calib/train2017
MAX_DROP ?=
QUANTIZE_OPTS ?=
endif
$(call check_paths,CALIB)
# The folder as a path, not as spelled: CALIB=dir/ or ./dir is the folder the IR was calibrated on.
INT8_SETTINGS := calib=$(abspath $(CALIB)) max_drop=$(MAX_DROP) opts=$(QUANTIZE_OPTS)
ifdef RECORDED_INT8
ifneq ($(INT8_SETTINGS),$(RECORDED_INT8))
INT8_CHANGED := FORCE
$(info poseforge: INT8 settings changed: [$(RECORDED_INT8)] -> [$(INT8_SETTINGS)]: the INT8 IR is made again)
endif
endif

# The quantization code is a prerequisite too: its defaults decide the INT8 bytes.
QUANTIZE_SRC := $(wildcard poseforge/quantize/*.py)
$(OUT)/ir/int8/model.xml: $(OUT)/ir/fp32/model.xml $(CALIB) $(QUANTIZE_SRC) $(INT8_CHANGED)
	$(PF) quantize $(call q,$<) --calib $(call q,$(CALIB)) --coco $(call q,$(COCO)) \
		$(if $(MAX_DROP),--max-drop $(call q,$(MAX_DROP))) $(foreach o,$(QUANTIZE_OPTS),$(call q,$(o))) -o $(call q,$@)
	@printf 'RECORDED_INT8 := %s\nRECORDED_CALIB := %s\nRECORDED_MAX_DROP := %s\nRECORDED_QUANTIZE_OPTS := %s\n' \
		$(call q,$(INT8_SETTINGS)) $(call q,$(CALIB)) $(call q,$(MAX_DROP)) $(call q,$(QUANTIZE_OPTS)) \
		> $(call q,$(INT8_STAMP).tmp) && mv $(call q,$(INT8_STAMP).tmp) $(call q,$(INT8_STAMP))
int8: $(OUT)/ir/int8/model.xml

# --- validate -----------------------------------------------------------------------------
# One report per artifact and protocol; the speed of an artifact (deploy shape) is measured
# once and shared by its two reports. Reports also depend on the decoder and pre-processing
# code, so changing how poses are decoded re-validates everything.
REPORTS_DIR := $(OUT)/reports
ANNOTATIONS := $(COCO)/annotations/person_keypoints_val2017.json
DECODER_SRC := $(wildcard poseforge/decode/*.py) poseforge/preprocess.py
# Per artifact (the report's speed columns): latency iterations and seconds of throughput and of
# end-to-end timing; for bench (the gated ratios), seconds split into interleaved rounds.
# RAY=ADDRESS validates in shards on Ray (`validate --ray`): local (a Ray started per report), auto
# (the Ray `ray start --head` runs here) or HOST:PORT / ray://HOST:PORT; the reports are the same.
RAY ?=
RAY_OPT := $(if $(RAY),--ray $(call q,$(RAY)))
SPEED_ITERATIONS ?= 20
SPEED_SECONDS ?= 5
BENCH_SECONDS ?= 10

ART_torch := $(OUT)/model.pth
ART_onnx := $(OUT)/model.onnx
ART_onnx-sim := $(OUT)/model.sim.onnx
ART_ir-fp32 := $(OUT)/ir/fp32/model.xml
ART_ir-fp16 := $(OUT)/ir/fp16/model.xml
ART_ir-int8 := $(OUT)/ir/int8/model.xml
ART_omz-int8 := $(OUT)/ir/omz-int8/model.xml

ARTIFACTS := torch onnx onnx-sim ir-fp32 ir-fp16
ifeq ($(MODEL),human-pose-estimation-0001)
ARTIFACTS += omz-int8
endif
ARTIFACTS += ir-int8
# Where OpenVINO runs bf16 natively, the FP32 IR is also measured under the bf16 precision hint
# (what this CPU does with an "FP32" model unless told f32): a variant row `ir-fp32.bf16`.
ART_ir-fp32.bf16 := $(ART_ir-fp32)
HINT_ir-fp32.bf16 := bf16
BF16 := $(shell $(PF) machine --supports bf16 2>/dev/null)
ARTIFACTS += $(if $(BF16),ir-fp32.bf16)
REPORTS := $(foreach a,$(ARTIFACTS),$(REPORTS_DIR)/$(a)-val.json $(REPORTS_DIR)/$(a)-deploy.json)
# The native protocol (the image's own aspect at the deploy height, as bundles run video) for the
# IRs that bundles are made of.
NATIVE_ARTIFACTS := ir-fp32 ir-int8
REPORTS += $(foreach a,$(NATIVE_ARTIFACTS),$(REPORTS_DIR)/$(a)-native.json)
# The same at the other input heights a user may pick (PoseEstimator's input_height, predict's --height):
# report.md's height table, `<artifact>-native@<height>.json`. Accuracy only: their speed is bench's
# interleaved run's, and a speed file each would spend CI's minutes on figures no table shows. The
# deploy height's native report is `<artifact>-native.json` itself (DEFAULT_HEIGHT, poseforge.artifacts).
HEIGHTS ?= 320 368
DEFAULT_HEIGHT := 256
strip_digits = $(subst 9,,$(subst 8,,$(subst 7,,$(subst 6,,$(subst 5,,$(subst 4,,$(subst 3,,$(subst 2,,$(subst 1,,$(subst 0,,$(1)))))))))))
$(foreach h,$(HEIGHTS),$(if $(call strip_digits,$(h)),$(error poseforge: error: HEIGHTS=$(HEIGHTS) holds $(h), \
	which is not a height: refused, nothing run)))
native_at = $(foreach h,$(filter-out $(DEFAULT_HEIGHT),$(HEIGHTS)),$(REPORTS_DIR)/$(1)-native@$(h).json)
NATIVE_AT := $(foreach a,$(NATIVE_ARTIFACTS),$(call native_at,$(a)))
REPORTS += $(NATIVE_AT)
at_artifact = $(firstword $(subst -native@, ,$(1)))
at_height = $(lastword $(subst -native@, ,$(1)))

SPEEDS := $(foreach a,$(ARTIFACTS),$(REPORTS_DIR)/speed/$(a).json)
.SECONDARY: $(SPEEDS)  # keep them: they are real targets, not throw-away intermediates
.SECONDEXPANSION:
HINT = --precision-hint $(or $(HINT_$*),f32)
$(REPORTS_DIR)/speed/%.json: $$(ART_$$*) $(ANNOTATIONS) $(DECODER_SRC)
	$(PF) speed $(call q,$<) --coco $(call q,$(COCO)) --iterations $(call q,$(SPEED_ITERATIONS)) \
		--seconds $(call q,$(SPEED_SECONDS)) $(HINT) -o $(call q,$@)

# Every other run's report carries its agreement with the FP32 IR's poses under its protocol, scored
# against the FP32 IR's report: that report comes first (validate finds it beside its own).
AGREEMENT_SRC := poseforge/validate/accuracy/agreement.py
REFERENCE_REPORT = $(if $(filter ir-fp32,$*),,$(REPORTS_DIR)/ir-fp32-$(1).json $(AGREEMENT_SRC))
$(REPORTS_DIR)/%-val.json: $$(ART_$$*) $(REPORTS_DIR)/speed/%.json $(ANNOTATIONS) $(DECODER_SRC) \
		$$(call REFERENCE_REPORT,val)
	$(PF) validate $(call q,$<) --coco $(call q,$(COCO)) --protocol val $(HINT) \
		--speed $(call q,$(REPORTS_DIR)/speed/$*.json) $(RAY_OPT) -o $(call q,$@)

$(REPORTS_DIR)/%-deploy.json: $$(ART_$$*) $(REPORTS_DIR)/speed/%.json $(ANNOTATIONS) $(DECODER_SRC) \
		$$(call REFERENCE_REPORT,deploy)
	$(PF) validate $(call q,$<) --coco $(call q,$(COCO)) --protocol deploy $(HINT) \
		--speed $(call q,$(REPORTS_DIR)/speed/$*.json) $(RAY_OPT) -o $(call q,$@)

$(REPORTS_DIR)/%-native.json: $$(ART_$$*) $(REPORTS_DIR)/speed/%.json $(ANNOTATIONS) $(DECODER_SRC) \
		$$(call REFERENCE_REPORT,native)
	$(PF) validate $(call q,$<) --coco $(call q,$(COCO)) --protocol native $(HINT) \
		--speed $(call q,$(REPORTS_DIR)/speed/$*.json) $(RAY_OPT) -o $(call q,$@)

# `ir-fp32-native@320`: the stem names the artifact and the height.
AT_REFERENCE = $(if $(filter ir-fp32,$(call at_artifact,$*)),,$(REPORTS_DIR)/ir-fp32-native@$(call at_height,$*).json \
	$(AGREEMENT_SRC))
$(NATIVE_AT): $(REPORTS_DIR)/%.json: $$(ART_$$(call at_artifact,$$*)) $(ANNOTATIONS) $(DECODER_SRC) $$(AT_REFERENCE)
	$(PF) validate $(call q,$<) --coco $(call q,$(COCO)) --protocol native --height $(call q,$(call at_height,$*)) \
		--precision-hint f32 --no-speed -o $(call q,$@)

validate: $(REPORTS)

# Every speed figure of the report comes from bench.json's one interleaved run (and bench-tiers.json's,
# when `make bench-tiers` has made it).
$(OUT)/report.md: $(REPORTS) $(OUT)/bench.json $(wildcard $(OUT)/bench-tiers.json) $(wildcard $(OUT)/bench-fleet.json)
	$(PF) report $(call q,$(OUT)) --coco $(call q,$(COCO))
report: $(OUT)/report.md

# --- gate -----------------------------------------------------------------------------------
# The committed baseline holds expected AP (with tolerances) per artifact and protocol, and the
# speed ratios that matter. `make gate` fails on any regression; `make baseline` rewrites it on purpose.
gate: $(REPORTS) $(OUT)/bench.json
	$(PF) gate $(call q,$(OUT)) --baseline $(call q,$(BASELINE))

baseline: $(REPORTS) $(OUT)/bench.json
	$(PF) baseline $(call q,$(OUT)) --baseline $(call q,$(BASELINE))

# The speed targets as ratios from one run: decoder against upstream's procedure and the network,
# end-to-end against network throughput, every artifact in interleaved rounds (INT8 against FP32 and
# Intel's release among them), and which artifact and precision hint to deploy on this machine class
# (from the validated AP: the reports come first).
$(OUT)/bench.json: $(REPORTS) $(ANNOTATIONS) $(DECODER_SRC)
	$(PF) bench $(call q,$(OUT)) --coco $(call q,$(COCO)) --seconds $(call q,$(BENCH_SECONDS)) -o $(call q,$@)
bench: $(OUT)/bench.json

# Every IR under each ISA tier this CPU can stand in for (ONEDNN_MAX_CPU_ISA, one process per tier),
# interleaved, INT8 validated under each tier: a benchmark run by hand (minutes), not part of `all`.
TIER_IRS := $(foreach a,$(filter ir-% omz-%,$(ARTIFACTS)),$(ART_$(a)))
$(OUT)/bench-tiers.json: $(sort $(TIER_IRS)) $(ANNOTATIONS) $(DECODER_SRC)
	$(PF) bench $(call q,$(OUT)) --tiers --coco $(call q,$(COCO)) --seconds $(call q,$(BENCH_SECONDS)) -o $(call q,$@)
.PHONY: bench-tiers
bench-tiers: $(OUT)/bench-tiers.json
	$(MAKE) --no-print-directory report

# Every IR on one node of each machine class of a Ray cluster (RAY=ADDRESS; nodes labelled with
# `poseforge machine --ray-resources`), or, on this machine alone (RAY=local, the default), under each
# ISA tier it stands in for: a benchmark run by hand, not part of `all`.
$(OUT)/bench-fleet.json: $(sort $(TIER_IRS))
	$(PF) bench $(call q,$(OUT)) --ray $(call q,$(or $(RAY),local)) --seconds $(call q,$(BENCH_SECONDS)) -o $(call q,$@)
.PHONY: bench-fleet
bench-fleet: $(OUT)/bench-fleet.json
	$(MAKE) --no-print-directory report

# --- bundle -------------------------------------------------------------------------------
# $(DIST)/<model>-<precision>.tar.gz: the IR taking u8 BGR NHWC camera frames, and bundle.json with
# the AP and speed of the IR's two reports (made by the validate rules above when missing).
BUNDLE_PRECISIONS := fp32 fp16 int8
BUNDLE_SRC := $(wildcard poseforge/bundle/*.py)
.PHONY: bundle

# The IR's reports under other precision hints (bf16 where the CPU runs it natively) travel too: they are what
# PoseEstimator's precision_hint="auto" chooses from; so do its native reports at other heights (HEIGHTS),
# which PoseEstimator's measured() cites for the input_height it runs at.
$(DIST)/$(MODEL)-%.tar.gz: $(OUT)/ir/%/model.xml $(REPORTS_DIR)/ir-%-val.json $(REPORTS_DIR)/ir-%-deploy.json \
		$$(filter $(REPORTS_DIR)/ir-$$*-native.json $$(call native_at,ir-$$*) \
		$(REPORTS_DIR)/ir-$$*.bf16-val.json $(REPORTS_DIR)/ir-$$*.bf16-deploy.json,$(REPORTS)) $(BUNDLE_SRC)
	$(PF) bundle $(call q,$<) --reports $(call q,$(REPORTS_DIR)) -o $(call q,$@)

# What a bundle's users get end to end on a 640x480 clip: native against letterboxed input,
# and end to end against the network alone (ratios measured in one run, interleaved).
$(OUT)/bench-deploy-%.json: $(DIST)/$(MODEL)-%.tar.gz
	$(PF) bench-deploy $(call q,$<) --coco $(call q,$(COCO)) -o $(call q,$@)
.PHONY: bench-deploy
bench-deploy: $(OUT)/bench-deploy-$(PRECISION).json

# Do tracks hold? Clips made from coco-val photos through the bundle with tracking (a benchmark:
# distinct ids against people in view, long tracks, id switches, ids across cuts, with targets).
TRACKING_SRC := $(addprefix poseforge/deploy/,tracking.py scenes.py clips.py tracking_metrics.py bench_tracking.py estimator.py)
$(OUT)/bench-tracking-%.json: $(DIST)/$(MODEL)-%.tar.gz $(ANNOTATIONS) $(TRACKING_SRC)
	$(PF) bench-tracking $(call q,$<) --coco $(call q,$(COCO)) -o $(call q,$@)
.PHONY: bench-tracking
bench-tracking: $(OUT)/bench-tracking-$(PRECISION).json

ifneq ($(filter $(PRECISION),$(BUNDLE_PRECISIONS)),)
bundle: $(DIST)/$(MODEL)-$(PRECISION).tar.gz
else
bundle:
	@printf '%s\n' $(call q,poseforge: error: unknown PRECISION=$(PRECISION); choose one of $(BUNDLE_PRECISIONS)) >&2; exit 2
endif

# --- paper --------------------------------------------------------------------------------
# Tables 2, 5 and 6 of the Lightweight OpenPose paper beside ours (not part of `all`). The
# proposed network is the default model's IR FP32; the baseline (2-stage openpose-vgg19) and the
# sweep (lightweight-openpose with 1..5 refinement stages, <model>-s<total stages>) are random-init
# checkpoints, NOT trained, converted like any model. The INT8 IR joins when it has been built.
HPE := $(BUILD)/human-pose-estimation-0001
PAPER_DIR := $(BUILD)/paper
PAPER_BASELINE := $(PAPER_DIR)/openpose-vgg19-s2/ir/fp32/model.xml
PAPER_SWEEP := $(foreach n,2 3 4 5 6,$(PAPER_DIR)/lightweight-openpose-s$(n)/ir/fp32/model.xml)
PAPER_INT8 := $(wildcard $(HPE)/ir/int8/model.xml)
PAPER_STEPS := $(foreach d,$(patsubst %/ir/fp32/model.xml,%,$(PAPER_BASELINE) $(PAPER_SWEEP)),\
	$(d)/model.pth $(d)/model.onnx $(d)/model.sim.onnx)
.SECONDARY: $(PAPER_STEPS)  # real targets too, not throw-away intermediates
.PHONY: paper

$(BUILD)/paper.md: $(HPE)/ir/fp32/model.xml $(PAPER_BASELINE) $(PAPER_SWEEP) $(PAPER_INT8) $(wildcard poseforge/analysis/*.py)
	$(PF) paper --proposed $(call q,$<) --baseline $(call q,$(PAPER_BASELINE)) \
		--sweep $(foreach f,$(PAPER_SWEEP),$(call q,$(f))) $(if $(PAPER_INT8),--int8 $(call q,$(PAPER_INT8))) -o $(call q,$@)
paper: $(BUILD)/paper.md

$(PAPER_DIR)/lightweight-openpose-s%/model.pth: | $(STAMP)
	$(PF) init --model lightweight-openpose --stages $(call q,$*) --seed 0 -o $(call q,$@)
$(PAPER_DIR)/openpose-vgg19-s%/model.pth: | $(STAMP)
	$(PF) init --model openpose-vgg19 --stages $(call q,$*) --seed 0 -o $(call q,$@)
$(PAPER_DIR)/%/model.onnx: $(PAPER_DIR)/%/model.pth
	$(PF) export $(call q,$<) -o $(call q,$@)
$(PAPER_DIR)/%/model.sim.onnx: $(PAPER_DIR)/%/model.onnx
	$(PF) simplify $(call q,$<) -o $(call q,$@)
$(PAPER_DIR)/%/ir/fp32/model.xml: $(PAPER_DIR)/%/model.sim.onnx
	$(PF) convert $(call q,$<) --precision fp32 -o $(call q,$@)

ifneq ($(OUT),$(HPE))
$(HPE)/ir/fp32/model.xml:
	$(MAKE) --no-print-directory ir-fp32 MODEL=human-pose-estimation-0001
endif

# --- clean ---------------------------------------------------------------------------------
# Exactly the files the rules above make for this MODEL (any precision, any hint) and the paper,
# the bundles in $(DIST) it names, and poseforge's record of them (.poseforge-outputs) where
# a folder is then otherwise empty; such folders are removed. Anything else in them stays.
RECORD := .poseforge-outputs
CLEAN_ARTIFACTS := $(sort torch onnx onnx-sim ir-fp32 ir-fp16 omz-int8 ir-int8 ir-fp32.bf16 $(ARTIFACTS))
CLEAN_REPORTS := $(foreach a,$(CLEAN_ARTIFACTS),$(foreach p,val deploy native \
	$(addprefix native@,$(filter-out $(DEFAULT_HEIGHT),$(HEIGHTS))),$(a)-$(p).json))
CLEAN_IRS := $(foreach p,fp32 fp16 int8 omz-int8,$(OUT)/ir/$(p)/model.xml $(OUT)/ir/$(p)/model.bin)
# bench-tiers' reports, per tier (poseforge/machine.py's TIERS).
TIER_NAMES := x86-avx2 x86-avx2-vnni x86-avx512 x86-avx512-vnni x86-avx512-bf16 x86-amx
CLEAN_TIERS := $(foreach t,$(TIER_NAMES),$(foreach r,$(foreach a,$(CLEAN_ARTIFACTS),$(a)-val.json),\
	$(OUT)/tiers/$(t)/reports/$(r) $(OUT)/tiers/$(t)/reports/results/$(r)))
CLEAN_PAPER := $(foreach d,$(patsubst %/ir/fp32/model.xml,%,$(PAPER_BASELINE) $(PAPER_SWEEP)),\
	$(d)/model.pth $(d)/model.onnx $(d)/model.sim.onnx $(d)/ir/fp32/model.xml $(d)/ir/fp32/model.bin)
CLEAN_FILES := $(OUT)/model.pth $(OUT)/model.onnx $(OUT)/model.sim.onnx $(CLEAN_IRS) $(INT8_STAMP) $(INT8_STAMP).tmp \
	$(addprefix $(REPORTS_DIR)/,$(CLEAN_REPORTS)) $(addprefix $(REPORTS_DIR)/results/,$(CLEAN_REPORTS)) \
	$(foreach a,$(CLEAN_ARTIFACTS),$(REPORTS_DIR)/speed/$(a).json) \
	$(addprefix $(OUT)/,report.md report.png report-example.png bench.json bench-tiers.json) \
	$(foreach p,$(BUNDLE_PRECISIONS),$(OUT)/bench-deploy-$(p).json $(OUT)/bench-tracking-$(p).json \
		$(DIST)/$(MODEL)-$(p).tar.gz) \
	$(addprefix $(BUILD)/,paper.md paper.json paper.png) $(CLEAN_PAPER) $(CLEAN_TIERS)
# Deepest first, so that a folder emptied by its subfolders' removal goes too.
CLEAN_DIRS := $(foreach p,fp32 fp16 int8 omz-int8,$(OUT)/ir/$(p)) $(OUT)/ir $(REPORTS_DIR)/results $(REPORTS_DIR)/speed \
	$(foreach t,$(TIER_NAMES),$(OUT)/tiers/$(t)/reports/results $(OUT)/tiers/$(t)/reports $(OUT)/tiers/$(t)) $(OUT)/tiers \
	$(REPORTS_DIR) $(OUT) \
	$(foreach d,$(patsubst %/ir/fp32/model.xml,%,$(PAPER_BASELINE) $(PAPER_SWEEP)),$(d)/ir/fp32 $(d)/ir $(d)) \
	$(PAPER_DIR) $(DIST) $(BUILD)

clean:
	rm -f -- $(foreach f,$(CLEAN_FILES),$(call q,$(f)))
	@for d in $(foreach d,$(CLEAN_DIRS),$(call q,$(d))); do \
		if [ -d "$$d" ] && [ ! -L "$$d" ]; then \
			if [ "$$(ls -A -- "$$d")" = $(call q,$(RECORD)) ] && [ -f "$$d/$(RECORD)" ]; then rm -f -- "$$d/$(RECORD)"; fi; \
			rmdir -- "$$d" 2>/dev/null || true; \
		fi; \
	done
