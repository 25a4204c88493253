#!/usr/bin/env bash
# The Kotlin libraries on this machine's JVM, without Gradle or the Android SDK: Debian's kotlinc (1.3.31, on
# Java 17), JUnit 4, JNA and BouncyCastle, installed with apt-get when missing (root or passwordless sudo).
#
#   android_demo/jvm.sh test            # make jvm-test: Python goldens, build, JUnit (taste2vec-core, and
#                                       #   taste2vec-jvm on LiteRT's real runtime), Android type-check, the
#                                       #   kotlin-embed CLI diffed with Python, the local Maven folder and a
#                                       #   consumer program built against it
#   android_demo/jvm.sh maven [DIR]     # make android-lib: jars + sources jars + POMs into DIR (build/maven)
#   android_demo/jvm.sh jars            # just build/jvm/taste2vec-{core,jvm}.jar
#   android_demo/jvm.sh compile         # every jar test compiles (kotlinc only, no Python): a warm-up for test
#   android_demo/jvm.sh embed [ARGS]    # make kotlin-embed: JSON lines in, one result per line out
#   android_demo/jvm.sh bench [ARGS]    # the Kotlin side of make bench-kotlin (JSON on stdout)
#
# Everything but the tools' own output goes to stderr. Jars are rebuilt only when their sources change.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BUILD=${BUILD:-build/jvm}
GOLDEN=${GOLDEN:-build/golden}
MAVEN=${MAVEN:-build/maven}
MODELS=sdk/taste2vec/models
BUNDLE=${BUNDLE:-$MODELS/$(cat $MODELS/DEFAULT)}
CATALOG=sdk/taste2vec/assets/demo_catalog.json
GROUP=com.taste2vec.edge
VERSION=$(sed -n 's/^version *= *//p' setup.cfg | head -1)  # the library ships with the SDK's version
JARS=/usr/share/java
CORE=android_demo/taste2vec-core
JVM=android_demo/taste2vec-jvm
STDLIB=$JARS/kotlin-stdlib.jar
JNA=$JARS/jna.jar
BCPROV=$JARS/bcprov.jar
export TASTE2VEC_PYTHON=${TASTE2VEC_PYTHON:-$PY}  # where taste2vec-jvm finds the ai-edge-litert package

log() { echo "== $*" >&2; }

ensure_tools() {
  local missing=()
  command -v kotlinc >/dev/null || missing+=(kotlin)
  [ -f $JARS/junit4.jar ] || missing+=(junit4)
  [ -f $JNA ] || missing+=(libjna-java)
  [ -f $BCPROV ] || missing+=(libbcprov-java)
  [ ${#missing[@]} = 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null && sudo -n true 2>/dev/null && sudo="sudo -n" || {
      echo "jvm.sh: needs Debian's ${missing[*]}: sudo apt-get install ${missing[*]}" >&2; exit 2; }
  fi
  log "installing ${missing[*]} (Debian)"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
}

# sources_sha DIR...: one hash over every .kt file under the folders (and the classpath), to skip rebuilds
sources_sha() { find "$@" -name '*.kt' -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64; }

# kotlin_jar OUT.jar "SRC DIRS" CLASSPATH [kotlinc flags...]: compile when the sources or classpath jars changed
kotlin_jar() {
  local out=$1 srcs=$2 cp=$3; shift 3
  local sum; sum=$( (sources_sha $srcs; echo "$cp $*"; for j in ${cp//:/ }; do [ -f "$j" ] && sha256sum "$j"; done) \
    | sha256sum | cut -c1-64)
  [ -f "$out" ] && [ "$(cat "$out.sha" 2>/dev/null)" = "$sum" ] && return 0
  log "kotlinc -> $out"
  rm -f "$out"
  # shellcheck disable=SC2086
  kotlinc -jvm-target 1.8 "$@" $srcs -cp "$cp" -d "$out" 2>&1 | grep -v -e 'Xverify:none' -e '^OpenJDK' >&2 || true
  [ -f "$out" ] || { echo "jvm.sh: compiling $out failed" >&2; exit 1; }
  echo "$sum" > "$out.sha"
}

build_libs() {
  ensure_tools
  mkdir -p "$BUILD"
  # the core has no runtime dependency: BouncyCastle is compile-only (used when java.security lacks Ed25519)
  kotlin_jar "$BUILD/taste2vec-core.jar" "$CORE/src/main/kotlin" "$BCPROV"
  if ! unzip -l "$BUILD/taste2vec-core.jar" META-INF/proguard/taste2vec-core.pro >/dev/null 2>&1; then
    jar --update --file "$BUILD/taste2vec-core.jar" -C "$CORE/src/main/resources" META-INF/proguard  # R8 rules for apps
  fi
  kotlin_jar "$BUILD/taste2vec-jvm.jar" "$JVM/src/main/kotlin" "$BUILD/taste2vec-core.jar:$JNA"
}

runtime_cp() { echo "$BUILD/taste2vec-jvm.jar:$BUILD/taste2vec-core.jar:$JNA:$STDLIB"; }

goldens() {
  log "goldens from the Python SDK -> $GOLDEN"
  "$PY" -m taste2vec golden --model "$BUNDLE" --port-dir "$GOLDEN" >/dev/null
  log "a signed copy of the bundle and two fresh keys -> $GOLDEN/signed"
  rm -rf "$GOLDEN/signed" && mkdir -p "$GOLDEN/signed"
  "$PY" -m taste2vec_convert keygen --out "$GOLDEN/signed" --name test >/dev/null
  "$PY" -m taste2vec_convert keygen --out "$GOLDEN/signed" --name other >/dev/null
  cp -r "$BUNDLE" "$GOLDEN/signed/bundle"
  "$PY" -m taste2vec_convert sign "$GOLDEN/signed/bundle" --key "$GOLDEN/signed/test.pem" >/dev/null
  "$PY" -c "import sys; from taste2vec.bundle import pack_bundle; pack_bundle(sys.argv[1], sys.argv[2])" \
    "$GOLDEN/signed/bundle" "$GOLDEN/signed/bundle.zip"   # the zip an app downloads, packed by the Python SDK
}

# The Android library and the demo app, type-checked against compile-only stubs of the Android and LiteRT classes
# they use (android_demo/jvm-stubs: no Android SDK here); nothing of this jar runs.
android_typecheck() {
  kotlin_jar "$BUILD/android-typecheck.jar" \
    "android_demo/jvm-stubs android_demo/taste2vec-android/src/main/kotlin android_demo/app/src/main/kotlin" \
    "$BUILD/taste2vec-core.jar" -nowarn
}

tests_jar() {
  local cp="$PWD/$BUILD/taste2vec-core.jar,$PWD/$BUILD/taste2vec-jvm.jar"
  kotlin_jar "$BUILD/taste2vec-tests.jar" "$CORE/src/test/kotlin $JVM/src/test/kotlin" \
    "$(runtime_cp):$JARS/junit4.jar:$BCPROV" "-Xfriend-paths=$cp"
}

junit() {
  tests_jar
  local classes
  classes=$(unzip -Z1 "$BUILD/taste2vec-tests.jar" | grep -E '^com/.*Test\.class$' | sed 's/\.class$//; s#/#.#g' | sort)
  log "JUnit: $(echo $classes | wc -w) test classes"
  # shellcheck disable=SC2086
  java -cp "$BUILD/taste2vec-tests.jar:$(runtime_cp):$JARS/junit4.jar:$JARS/hamcrest-core.jar:$BCPROV" \
    -Dtaste2vec.bundle="$BUNDLE" -Dtaste2vec.golden="$GOLDEN" -Dtaste2vec.catalog="$CATALOG" \
    org.junit.runner.JUnitCore $classes
}

# pom ARTIFACT "NAME" "DESCRIPTION" DEPENDENCIES-XML: a Maven POM for one module
pom() {
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>$GROUP</groupId>
  <artifactId>$1</artifactId>
  <version>$VERSION</version>
  <packaging>jar</packaging>
  <name>$2</name>
  <description>$3</description>
  <dependencies>
    <dependency>
      <groupId>org.jetbrains.kotlin</groupId>
      <artifactId>kotlin-stdlib</artifactId>
      <version>1.3.31</version>
    </dependency>$4
  </dependencies>
</project>
EOF
}

# publish ARTIFACT SRC-MAIN POM-TEXT: jar + sources jar (SRC-MAIN/kotlin and /resources) + POM (+ .sha1 / .md5) in
# the Maven folder's layout
publish() {
  local dir="$MAVEN/${GROUP//.//}/$1/$VERSION" base="$1-$VERSION"
  mkdir -p "$dir"
  cp "$BUILD/$1.jar" "$dir/$base.jar"
  local args=()
  for d in "$2"/kotlin "$2"/resources; do [ -d "$d" ] && args+=(-C "$d" .); done
  jar --create --file "$dir/$base-sources.jar" "${args[@]}"
  echo "$3" > "$dir/$base.pom"
  for f in "$dir/$base.jar" "$dir/$base-sources.jar" "$dir/$base.pom"; do
    sha1sum "$f" | cut -c1-40 > "$f.sha1"
    md5sum "$f" | cut -c1-32 > "$f.md5"
  done
}

maven() {
  build_libs
  local core_dep="
    <dependency>
      <groupId>org.bouncycastle</groupId>
      <artifactId>bcprov-jdk18on</artifactId>
      <version>1.78.1</version>
      <optional>true</optional>
    </dependency>"
  local jvm_deps="
    <dependency>
      <groupId>$GROUP</groupId>
      <artifactId>taste2vec-core</artifactId>
      <version>$VERSION</version>
    </dependency>
    <dependency>
      <groupId>net.java.dev.jna</groupId>
      <artifactId>jna</artifactId>
      <version>5.13.0</version>
    </dependency>"
  publish taste2vec-core "$CORE/src/main" "$(pom taste2vec-core "Taste2Vec Edge core" \
    "Tasting record -> model inputs (validation, tokenizer, sensory lexicon), verified bundles, profiles and curation; no dependencies (BouncyCastle optional: Ed25519 before Android 13)" \
    "$core_dep")"
  publish taste2vec-jvm "$JVM/src/main" "$(pom taste2vec-jvm "Taste2Vec Edge JVM engine" \
    "LiteRT's runtime (libLiteRt.so, C API) from a plain JVM through JNA: an InferenceEngine for Kotlin and Java backends, tests and tools" \
    "$jvm_deps")"
  log "Maven folder: $MAVEN ($GROUP:taste2vec-core:$VERSION, $GROUP:taste2vec-jvm:$VERSION)"
}

# The integration guide's JVM quick start, compiled with kotlinc against the jars in the Maven folder (not the
# source tree) and run on the shipped bundle.
consumer() {
  local repo="$MAVEN/${GROUP//.//}" out="$BUILD/consumer"
  local cp="$repo/taste2vec-core/$VERSION/taste2vec-core-$VERSION.jar:$repo/taste2vec-jvm/$VERSION/taste2vec-jvm-$VERSION.jar:$JNA"
  mkdir -p "$out"
  rm -f "$out/quickstart.jar.sha"  # always rebuilt: it proves the published jars, not a cache
  kotlin_jar "$out/quickstart.jar" android_demo/examples/jvm-quickstart "$cp"
  log "consumer program (built against $MAVEN)"
  java -cp "$out/quickstart.jar:$cp:$STDLIB" QuickStartKt "$BUNDLE"
}

# The kotlin-embed tool itself (what `make kotlin-embed` runs) on the end-to-end lines, diffed with the Python SDK's
# results by `taste2vec diff` (exit 1 on any difference).
cli_check() {
  log "kotlin-embed on $GOLDEN/e2e_records.jsonl, diffed with taste2vec embed --jsonl"
  local status=0
  java -cp "$(runtime_cp)" com.taste2vec.edge.jvm.tools.Embed "$GOLDEN/e2e_records.jsonl" > "$BUILD/kotlin-e2e.jsonl" \
    2> "$BUILD/kotlin-e2e.stderr" || status=$?
  cat "$BUILD/kotlin-e2e.stderr" >&2
  [ $status = 0 ] || { echo "jvm.sh: kotlin-embed exited $status" >&2; exit 1; }
  if grep -q -e '^INFO: ' -e 'accelerator could not be loaded' "$BUILD/kotlin-e2e.stderr"; then
    echo "jvm.sh: LiteRT's start-up notices reached stderr (they are filtered unless TASTE2VEC_VERBOSE=1)" >&2; exit 1
  fi
  "$PY" -m taste2vec diff "$GOLDEN/e2e_expected.jsonl" "$BUILD/kotlin-e2e.jsonl" >&2
}

cmd=${1:-test}
[ $# -gt 0 ] && shift
case "$cmd" in
  test)
    goldens
    build_libs
    android_typecheck
    junit
    cli_check
    maven
    consumer ;;
  maven) MAVEN=${1:-$MAVEN}; maven ;;
  jars) build_libs ;;
  compile) build_libs; android_typecheck; tests_jar ;;
  embed) build_libs; exec java -cp "$(runtime_cp)" com.taste2vec.edge.jvm.tools.Embed "$@" ;;
  bench) build_libs; exec java -cp "$(runtime_cp)" com.taste2vec.edge.jvm.tools.Bench "$@" ;;
  *) echo "usage: android_demo/jvm.sh test | maven [DIR] | jars | embed [ARGS] | bench [ARGS]" >&2; exit 2 ;;
esac
