// LiteRT's runtime (libLiteRt.so, its C API) from a plain JVM through JNA: an InferenceEngine for Kotlin and Java
// backends, tests and tools. Not for Android apps (they use taste2vec-android's LiteRtEngine). Tested here by
// `make jvm-test` (android_demo/jvm.sh) against the Python SDK, on the ai-edge-litert wheel's libLiteRt.so.
plugins {
    id("org.jetbrains.kotlin.jvm")
    `maven-publish`
}

kotlin {
    jvmToolchain(17)
}

java {
    withSourcesJar()
}

dependencies {
    api(project(":taste2vec-core"))
    implementation("net.java.dev.jna:jna:5.13.0")
    testImplementation("junit:junit:4.13.2")
}

publishing {
    publications {
        register<MavenPublication>("maven") {
            artifactId = "taste2vec-jvm"
            from(components["java"])
        }
    }
}

tasks.test {
    // the same inputs as android_demo/jvm.sh test; libLiteRt.so from the repository's .venv (pip install ai-edge-litert)
    val repo = rootProject.projectDir.parentFile
    workingDir = repo
    systemProperty("taste2vec.bundle", File(repo, "sdk/taste2vec/models/DEFAULT").path)
    systemProperty("taste2vec.golden", File(repo, "build/golden").path)
}
