// Pure Kotlin/JVM: no Android dependency, so its tests run on any JVM (here: `make jvm-test` with Debian's kotlinc).
plugins {
    id("org.jetbrains.kotlin.jvm")
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}

tasks.test {
    // the same inputs as android_demo/taste2vec-core/jvm-test.sh; run `make jvm-test` once first for the goldens
    val repo = rootProject.projectDir.parentFile
    systemProperty("taste2vec.bundle", File(repo, "sdk/taste2vec/models/DEFAULT").path)
    systemProperty("taste2vec.golden", File(repo, "build/golden").path)
    systemProperty("taste2vec.catalog", File(repo, "sdk/taste2vec/assets/demo_catalog.json").path)
}
