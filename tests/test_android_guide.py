"""The Kotlin integration guide states what the build does: its JVM quick start is the file make jvm-test compiles
against the Maven folder, its coordinates are the build's, and the JSON-lines contract's limits are the same in
Python and Kotlin."""

from __future__ import annotations

import re
from pathlib import Path

from taste2vec import lines

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "android_demo" / "README.md"
JVM = ROOT / "android_demo" / "taste2vec-jvm" / "src" / "main" / "kotlin" / "com" / "taste2vec" / "edge" / "jvm"
CORE = ROOT / "android_demo" / "taste2vec-core" / "src" / "main" / "kotlin" / "com" / "taste2vec" / "edge" / "core"


def kotlin_blocks(text: str) -> list[str]:
    return re.findall(r"```kotlin\n(.*?)```", text, re.S)


def sdk_version() -> str:
    return re.search(r"^version\s*=\s*(\S+)", (ROOT / "setup.cfg").read_text(), re.M).group(1)


def test_the_guides_jvm_quick_start_is_the_program_the_build_compiles_and_runs():
    example = (ROOT / "android_demo" / "examples" / "jvm-quickstart" / "QuickStart.kt").read_text(encoding="utf-8")
    assert example in kotlin_blocks(GUIDE.read_text(encoding="utf-8"))
    assert "examples/jvm-quickstart" in (ROOT / "android_demo" / "jvm.sh").read_text()


def test_coordinates_in_the_guide_are_the_builds():
    guide, script = GUIDE.read_text(encoding="utf-8"), (ROOT / "android_demo" / "jvm.sh").read_text()
    version = sdk_version()
    assert "GROUP=com.taste2vec.edge" in script and "sed -n 's/^version" in script  # the SDK's version
    for artifact in ("taste2vec-core", "taste2vec-android", "taste2vec-jvm"):
        assert f"com.taste2vec.edge:{artifact}" in guide
    assert re.findall(r'"com\.taste2vec\.edge:taste2vec-\w+:([\d.]+)"', guide) == [version]
    assert f"taste2vec-{{core,jvm}}/{version}/" in guide
    gradle = (ROOT / "android_demo" / "build.gradle.kts").read_text()
    assert 'group = "com.taste2vec.edge"' in gradle and "setup.cfg" in gradle
    android = (ROOT / "android_demo" / "taste2vec-android" / "build.gradle.kts").read_text()
    assert 'consumerProguardFiles("consumer-rules.pro")' in android
    assert (ROOT / "android_demo" / "taste2vec-android" / "consumer-rules.pro").is_file()
    rules = ROOT / "android_demo" / "taste2vec-core" / "src" / "main" / "resources" / "META-INF" / "proguard"
    assert "Ed25519Signer" in (rules / "taste2vec-core.pro").read_text()
    assert "Ed25519Signer" in (CORE / "Ed25519.kt").read_text()  # the class the rule keeps is the one looked up


def test_the_json_lines_limits_are_the_same_in_python_and_kotlin():
    kotlin = (JVM / "RecordLines.kt").read_text()
    shift = int(re.search(r"MAX_LINE_BYTES = 16 shl (\d+)", kotlin).group(1))
    assert lines.MAX_LINE_BYTES == 16 << shift
    depth = int(re.search(r"const val MAX_DEPTH = (\d+)", (CORE / "Json.kt").read_text()).group(1))
    assert lines.MAX_LINE_DEPTH == depth
    digits = int(re.search(r"const val MAX_INT_DIGITS = (\d+)", (CORE / "Json.kt").read_text()).group(1))
    import sys

    assert digits == sys.int_info.default_max_str_digits  # where json.loads stops reading an integer
