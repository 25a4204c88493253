plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

val repo = rootProject.projectDir.parentFile
val modelsDir = File(repo, "sdk/taste2vec/models")
val bundleName = File(modelsDir, "DEFAULT").readText().trim()

// The app ships the bundle exactly as the Python SDK does (manifest-verified at start-up) plus the demo catalog;
// they are copied from sdk/ at build time so there is one source of truth.
val copyBundle by tasks.registering(Copy::class) {
    from(File(modelsDir, bundleName)) { into("taste2vec") }
    from(File(repo, "sdk/taste2vec/assets/demo_catalog.json")) { into("taste2vec") }
    into(layout.buildDirectory.dir("generated/taste2vecAssets"))
}

android {
    namespace = "com.taste2vec.edge.demo"
    compileSdk = 35
    defaultConfig {
        applicationId = "com.taste2vec.edge.demo"
        minSdk = 26  // java.util.Base64 (catalog) and LiteRT 1.4.1's Interpreter
        targetSdk = 35
        versionCode = 1
        versionName = "1.0"
    }
    sourceSets["main"].assets.srcDir(layout.buildDirectory.dir("generated/taste2vecAssets"))
    androidResources {
        noCompress += "tflite"  // the model is memory-mapped uncompressed
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
}

tasks.named("preBuild") { dependsOn(copyBundle) }

dependencies {
    implementation(project(":taste2vec-android"))  // brings taste2vec-core and LiteRT
}
