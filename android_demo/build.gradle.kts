plugins {
    id("com.android.application") version "8.7.3" apply false
    id("com.android.library") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.0.21" apply false
    id("org.jetbrains.kotlin.jvm") version "2.0.21" apply false
}

// Coordinates of the published libraries (make android-lib writes the same into build/maven without Gradle):
// com.taste2vec.edge:taste2vec-core, :taste2vec-jvm (jars) and :taste2vec-android (AAR), version = the SDK's.
val sdkVersion = File(rootDir.parentFile, "setup.cfg").readLines()
    .first { it.startsWith("version") }.substringAfter("=").trim()
subprojects {
    group = "com.taste2vec.edge"
    version = sdkVersion
}
