#!/usr/bin/env bash
# Builds the pure-Kotlin preprocessing module and runs its JUnit 4 tests on this machine's JVM, against goldens
# the Python SDK writes right before (so a Python change that the port does not mirror fails here).
# Tools: Debian's kotlin (kotlinc 1.3.31) and junit4, on Java 17; installed with apt-get when missing (root).
#
#   android_demo/taste2vec-core/jvm-test.sh            # from `make jvm-test` / `make test`
#   PY=.venv/bin/python BUILD=build/jvm android_demo/taste2vec-core/jvm-test.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
BUILD=${BUILD:-build/jvm}
GOLDEN=${GOLDEN:-build/golden}
MODELS=sdk/taste2vec/models
BUNDLE=${BUNDLE:-$MODELS/$(cat $MODELS/DEFAULT)}
CATALOG=sdk/taste2vec/assets/demo_catalog.json
SRC=android_demo/taste2vec-core/src
JARS=/usr/share/java

if ! command -v kotlinc >/dev/null || [ ! -f $JARS/junit4.jar ]; then
  if [ "$(id -u)" = 0 ]; then
    SUDO=""
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "jvm-test: needs Debian's kotlin and junit4: sudo apt-get install kotlin junit4" >&2
    exit 2
  fi
  echo "== installing kotlin + junit4 (Debian)" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q kotlin junit4 >/dev/null \
    || { $SUDO apt-get update -q >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q kotlin junit4 >/dev/null; }
fi

echo "== goldens from the Python SDK -> $GOLDEN" >&2
"$PY" -m taste2vec golden --model "$BUNDLE" --port-dir "$GOLDEN" >/dev/null

echo "== a signed copy of the bundle and two fresh keys -> $GOLDEN/signed" >&2
rm -rf "$GOLDEN/signed" && mkdir -p "$GOLDEN/signed"
"$PY" -m taste2vec_convert keygen --out "$GOLDEN/signed" --name test >/dev/null
"$PY" -m taste2vec_convert keygen --out "$GOLDEN/signed" --name other >/dev/null
cp -r "$BUNDLE" "$GOLDEN/signed/bundle"
"$PY" -m taste2vec_convert sign "$GOLDEN/signed/bundle" --key "$GOLDEN/signed/test.pem" >/dev/null
"$PY" -c "import sys; from taste2vec.bundle import pack_bundle; pack_bundle(sys.argv[1], sys.argv[2])" \
  "$GOLDEN/signed/bundle" "$GOLDEN/signed/bundle.zip"   # the zip an app downloads, packed by the Python SDK

# main + test sources in one compilation: the tests see `internal` API, as in one Gradle module
mkdir -p "$BUILD"
stamp="$BUILD/.sources.sha"
sum=$(find $SRC -name '*.kt' -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
if [ ! -f "$BUILD/taste2vec-core-tests.jar" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
  echo "== kotlinc $(kotlinc -version 2>&1 | grep -o 'kotlinc-jvm [0-9.]*' || true)" >&2
  rm -f "$BUILD/taste2vec-core-tests.jar"
  kotlinc -jvm-target 1.8 $SRC/main/kotlin $SRC/test/kotlin -cp $JARS/junit4.jar -d "$BUILD/taste2vec-core-tests.jar" 2>&1 \
    | grep -v -e 'Xverify:none' -e '^OpenJDK' >&2 || true
  [ -f "$BUILD/taste2vec-core-tests.jar" ] || { echo "jvm-test: compilation failed" >&2; exit 1; }
  echo "$sum" > "$stamp"
fi

# the Android library and the demo app, type-checked against compile-only stubs of the Android / LiteRT classes
# they use (android_demo/jvm-stubs: no Android SDK here); nothing of this jar runs
STUBS=android_demo/jvm-stubs
asum=$( (echo "$sum"; find $STUBS android_demo/taste2vec-android/src android_demo/app/src -name '*.kt' -type f -print0 \
  | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-64)
if [ ! -f "$BUILD/android-typecheck.jar" ] || [ "$(cat "$BUILD/.android.sha" 2>/dev/null)" != "$asum" ]; then
  echo "== kotlinc: taste2vec-android + app against stubs" >&2
  rm -f "$BUILD/android-typecheck.jar"
  kotlinc -jvm-target 1.8 -nowarn $STUBS android_demo/taste2vec-android/src/main/kotlin android_demo/app/src/main/kotlin \
    -cp "$BUILD/taste2vec-core-tests.jar" -d "$BUILD/android-typecheck.jar" 2>&1 \
    | grep -v -e 'Xverify:none' -e '^OpenJDK' >&2 || true
  [ -f "$BUILD/android-typecheck.jar" ] || { echo "jvm-test: the Android library or app does not compile" >&2; exit 1; }
  echo "$asum" > "$BUILD/.android.sha"
fi

classes=$(unzip -Z1 "$BUILD/taste2vec-core-tests.jar" | grep -E '^com/.*Test\.class$' | sed 's/\.class$//; s#/#.#g' | sort)
echo "== JUnit: $(echo $classes | wc -w) test classes" >&2
java -cp "$BUILD/taste2vec-core-tests.jar:$JARS/junit4.jar:$JARS/hamcrest-core.jar:$JARS/kotlin-stdlib.jar" \
  -Dtaste2vec.bundle="$BUNDLE" -Dtaste2vec.golden="$GOLDEN" -Dtaste2vec.catalog="$CATALOG" \
  org.junit.runner.JUnitCore $classes
