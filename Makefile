# poseforge: every target below is a real file with real prerequisites, so re-running a
# finished target does nothing and touching a checkpoint redoes what depends on it.
# Stages write to a temporary file and rename it, and make deletes a target whose recipe
# failed (.DELETE_ON_ERROR): an interrupted run never leaves a target that looks done.

MODEL ?= human-pose-estimation-0001
CHECKPOINT ?=
DATA ?= $(or $(POSEFORGE_DATA),$(HOME)/.cache/poseforge)
COCO ?= $(DATA)/coco-val
BUILD ?= build

VENV := .venv
PF := $(VENV)/bin/poseforge
STAMP := $(VENV)/.installed
OUT := $(BUILD)/$(MODEL)
OMZ_IR := $(DATA)/omz/human-pose-estimation-0001/FP16-INT8/human-pose-estimation-0001.xml

.DELETE_ON_ERROR:
.PHONY: all setup test test-fast lint checkpoint onnx simplify ir-fp32 ir-fp16 ir omz-int8 parity fetch clean
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

lint: $(STAMP)
	$(VENV)/bin/ruff check poseforge tests
	$(VENV)/bin/ruff format --check poseforge tests

test: lint
	POSEFORGE_DATA=$(DATA) $(VENV)/bin/pytest -q

# The unit tier: no data assets, no make-built artifacts (tests needing them are marked `data`).
test-fast: $(STAMP)
	env -u POSEFORGE_DATA $(VENV)/bin/pytest -q -m "not data and not slow"

fetch: $(STAMP)
	$(PF) fetch all --data $(DATA)

# The default image sets, fetched from the official URLs when a target needs them and they are missing.
$(DATA)/coco-val/annotations/person_keypoints_val2017.json: | $(STAMP)
	$(PF) fetch coco-val --data $(DATA)
$(DATA)/coco-calib/train2017: | $(STAMP)
	$(PF) fetch coco-calib --data $(DATA)

# --- checkpoint ---------------------------------------------------------------------------
# The default model's weights are imported from the Open Model Zoo IR in the data directory
# (fetched from the official URL when missing); any other model needs CHECKPOINT=.
ifneq ($(CHECKPOINT),)
$(OUT)/model.pth: $(CHECKPOINT) | $(STAMP)
	$(PF) checkpoint --model $(MODEL) $(CHECKPOINT) -o $@
$(CHECKPOINT):
	@echo "poseforge: error: checkpoint not found: $@" >&2; exit 1
else ifeq ($(MODEL),human-pose-estimation-0001)
$(OUT)/model.pth: $(OMZ_IR) | $(STAMP)
	$(PF) import-ir $(OMZ_IR) -o $@
$(OMZ_IR): | $(STAMP)
	$(PF) fetch omz --data $(DATA)
else ifeq ($(MODEL),openpose-vgg19)
# No trained weights exist for it here: a random-init checkpoint, for complexity and speed only
# (STAGES=N: N stages as the paper counts them, initial + refinement; the COCO release has 6).
$(OUT)/model.pth: | $(STAMP)
	$(PF) init --model $(MODEL) $(if $(STAGES),--stages $(STAGES)) --seed 0 -o $@
else
$(OUT)/model.pth:
	@echo "poseforge: error: MODEL=$(MODEL) needs CHECKPOINT=path/to/checkpoint.pth" >&2; exit 2
endif

# --- convert ------------------------------------------------------------------------------
$(OUT)/model.onnx: $(OUT)/model.pth
	$(PF) export $< -o $@

$(OUT)/model.sim.onnx: $(OUT)/model.onnx
	$(PF) simplify $< -o $@

$(OUT)/ir/fp32/model.xml: $(OUT)/model.sim.onnx
	$(PF) convert $< --precision fp32 -o $@

$(OUT)/ir/fp16/model.xml: $(OUT)/model.sim.onnx
	$(PF) convert $< --precision fp16 -o $@

checkpoint: $(OUT)/model.pth
onnx: $(OUT)/model.onnx
simplify: $(OUT)/model.sim.onnx
ir-fp32: $(OUT)/ir/fp32/model.xml
ir-fp16: $(OUT)/ir/fp16/model.xml
ir: ir-fp32 ir-fp16

# The Open Model Zoo INT8 release, registered as the `omz-int8` reference artifact.
$(OUT)/ir/omz-int8/model.xml: $(OMZ_IR) | $(STAMP)
	$(PF) reference-ir $(OMZ_IR) -o $@
omz-int8: $(OUT)/ir/omz-int8/model.xml

parity: ir
	$(PF) parity $(OUT) --images $(COCO)/val2017 $(if $(wildcard $(OMZ_IR)),$(if $(filter human-pose-estimation-0001,$(MODEL)),--omz-ir $(OMZ_IR)))

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
INT8_SETTINGS := calib=$(CALIB) max_drop=$(MAX_DROP) opts=$(QUANTIZE_OPTS)
ifdef RECORDED_INT8
ifneq ($(INT8_SETTINGS),$(RECORDED_INT8))
INT8_CHANGED := FORCE
$(info poseforge: INT8 settings changed: [$(RECORDED_INT8)] -> [$(INT8_SETTINGS)]: the INT8 IR is made again)
endif
endif

$(OUT)/ir/int8/model.xml: $(OUT)/ir/fp32/model.xml $(CALIB) $(INT8_CHANGED)
	$(PF) quantize $< --calib $(CALIB) --coco $(COCO) $(if $(MAX_DROP),--max-drop $(MAX_DROP)) $(QUANTIZE_OPTS) -o $@
	@printf 'RECORDED_INT8 := %s\nRECORDED_CALIB := %s\nRECORDED_MAX_DROP := %s\nRECORDED_QUANTIZE_OPTS := %s\n' \
		'$(INT8_SETTINGS)' '$(CALIB)' '$(MAX_DROP)' '$(QUANTIZE_OPTS)' > $(INT8_STAMP).tmp && mv $(INT8_STAMP).tmp $(INT8_STAMP)
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

SPEEDS := $(foreach a,$(ARTIFACTS),$(REPORTS_DIR)/speed/$(a).json)
.SECONDARY: $(SPEEDS)  # keep them: they are real targets, not throw-away intermediates
.SECONDEXPANSION:
HINT = --precision-hint $(or $(HINT_$*),f32)
$(REPORTS_DIR)/speed/%.json: $$(ART_$$*) $(ANNOTATIONS) $(DECODER_SRC)
	$(PF) speed $< --coco $(COCO) --iterations $(SPEED_ITERATIONS) --seconds $(SPEED_SECONDS) $(HINT) -o $@

# Every other run's report carries its agreement with the FP32 IR's poses under its protocol, scored
# against the FP32 IR's report: that report comes first (validate finds it beside its own).
AGREEMENT_SRC := poseforge/validate/accuracy/agreement.py
REFERENCE_REPORT = $(if $(filter ir-fp32,$*),,$(REPORTS_DIR)/ir-fp32-$(1).json $(AGREEMENT_SRC))
$(REPORTS_DIR)/%-val.json: $$(ART_$$*) $(REPORTS_DIR)/speed/%.json $(ANNOTATIONS) $(DECODER_SRC) \
		$$(call REFERENCE_REPORT,val)
	$(PF) validate $< --coco $(COCO) --protocol val $(HINT) --speed $(REPORTS_DIR)/speed/$*.json -o $@

$(REPORTS_DIR)/%-deploy.json: $$(ART_$$*) $(REPORTS_DIR)/speed/%.json $(ANNOTATIONS) $(DECODER_SRC) \
		$$(call REFERENCE_REPORT,deploy)
	$(PF) validate $< --coco $(COCO) --protocol deploy $(HINT) --speed $(REPORTS_DIR)/speed/$*.json -o $@

$(REPORTS_DIR)/%-native.json: $$(ART_$$*) $(REPORTS_DIR)/speed/%.json $(ANNOTATIONS) $(DECODER_SRC) \
		$$(call REFERENCE_REPORT,native)
	$(PF) validate $< --coco $(COCO) --protocol native $(HINT) --speed $(REPORTS_DIR)/speed/$*.json -o $@

validate: $(REPORTS)

# Every speed figure of the report comes from bench.json's one interleaved run (and bench-tiers.json's,
# when `make bench-tiers` has made it).
$(OUT)/report.md: $(REPORTS) $(OUT)/bench.json $(wildcard $(OUT)/bench-tiers.json)
	$(PF) report $(OUT) --coco $(COCO)
report: $(OUT)/report.md

# --- gate -----------------------------------------------------------------------------------
# The committed baseline holds expected AP (with tolerances) per artifact and protocol, and the
# speed ratios that matter. `make gate` fails on any regression; `make baseline` rewrites it on purpose.
BASELINE ?= baselines/$(MODEL).json

gate: $(REPORTS) $(OUT)/bench.json
	$(PF) gate $(OUT) --baseline $(BASELINE)

baseline: $(REPORTS) $(OUT)/bench.json
	$(PF) baseline $(OUT) --baseline $(BASELINE)

# The speed targets as ratios from one run: decoder against upstream's procedure and the network,
# end-to-end against network throughput, every artifact in interleaved rounds (INT8 against FP32 and
# Intel's release among them), and which artifact and precision hint to deploy on this machine class
# (from the validated AP: the reports come first).
$(OUT)/bench.json: $(REPORTS) $(ANNOTATIONS) $(DECODER_SRC)
	$(PF) bench $(OUT) --coco $(COCO) --seconds $(BENCH_SECONDS) -o $@
bench: $(OUT)/bench.json

# Every IR under each ISA tier this CPU can stand in for (ONEDNN_MAX_CPU_ISA, one process per tier),
# interleaved, INT8 validated under each tier: a benchmark run by hand (minutes), not part of `all`.
TIER_IRS := $(foreach a,$(filter ir-% omz-%,$(ARTIFACTS)),$(ART_$(a)))
$(OUT)/bench-tiers.json: $(sort $(TIER_IRS)) $(ANNOTATIONS) $(DECODER_SRC)
	$(PF) bench $(OUT) --tiers --coco $(COCO) --seconds $(BENCH_SECONDS) -o $@
.PHONY: bench-tiers
bench-tiers: $(OUT)/bench-tiers.json
	$(MAKE) --no-print-directory report

# --- bundle -------------------------------------------------------------------------------
# $(DIST)/<model>-<precision>.tar.gz: the IR taking u8 BGR NHWC camera frames, and bundle.json with
# the AP and speed of the IR's two reports (made by the validate rules above when missing).
PRECISION ?= fp32
DIST ?= dist
BUNDLE_PRECISIONS := fp32 fp16 int8
BUNDLE_SRC := $(wildcard poseforge/bundle/*.py)
.PHONY: bundle

$(DIST)/$(MODEL)-%.tar.gz: $(OUT)/ir/%/model.xml $(REPORTS_DIR)/ir-%-val.json $(REPORTS_DIR)/ir-%-deploy.json \
		$$(filter $(REPORTS_DIR)/ir-$$*-native.json,$(REPORTS)) $(BUNDLE_SRC)
	$(PF) bundle $< --reports $(REPORTS_DIR) -o $@

# What a bundle's users get end to end on a 640x480 clip: native against letterboxed input,
# and end to end against the network alone (ratios measured in one run, interleaved).
$(OUT)/bench-deploy-%.json: $(DIST)/$(MODEL)-%.tar.gz
	$(PF) bench-deploy $< --coco $(COCO) -o $@
.PHONY: bench-deploy
bench-deploy: $(OUT)/bench-deploy-$(PRECISION).json

# Do tracks hold? Clips made from coco-val photos through the bundle with tracking (a benchmark:
# distinct ids against people in view, long tracks, id switches, ids across cuts, with targets).
TRACKING_SRC := $(addprefix poseforge/deploy/,tracking.py scenes.py clips.py tracking_metrics.py bench_tracking.py estimator.py)
$(OUT)/bench-tracking-%.json: $(DIST)/$(MODEL)-%.tar.gz $(ANNOTATIONS) $(TRACKING_SRC)
	$(PF) bench-tracking $< --coco $(COCO) -o $@
.PHONY: bench-tracking
bench-tracking: $(OUT)/bench-tracking-$(PRECISION).json

ifneq ($(filter $(PRECISION),$(BUNDLE_PRECISIONS)),)
bundle: $(DIST)/$(MODEL)-$(PRECISION).tar.gz
else
bundle:
	@echo "poseforge: error: unknown PRECISION=$(PRECISION); choose one of $(BUNDLE_PRECISIONS)" >&2; exit 2
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
	$(PF) paper --proposed $< --baseline $(PAPER_BASELINE) --sweep $(PAPER_SWEEP) $(if $(PAPER_INT8),--int8 $(PAPER_INT8)) -o $@
paper: $(BUILD)/paper.md

$(PAPER_DIR)/lightweight-openpose-s%/model.pth: | $(STAMP)
	$(PF) init --model lightweight-openpose --stages $* --seed 0 -o $@
$(PAPER_DIR)/openpose-vgg19-s%/model.pth: | $(STAMP)
	$(PF) init --model openpose-vgg19 --stages $* --seed 0 -o $@
$(PAPER_DIR)/%/model.onnx: $(PAPER_DIR)/%/model.pth
	$(PF) export $< -o $@
$(PAPER_DIR)/%/model.sim.onnx: $(PAPER_DIR)/%/model.onnx
	$(PF) simplify $< -o $@
$(PAPER_DIR)/%/ir/fp32/model.xml: $(PAPER_DIR)/%/model.sim.onnx
	$(PF) convert $< --precision fp32 -o $@

ifneq ($(OUT),$(HPE))
$(HPE)/ir/fp32/model.xml:
	$(MAKE) --no-print-directory ir-fp32 MODEL=human-pose-estimation-0001
endif

clean:
	rm -rf $(BUILD) dist
