// Taste2Vec Edge Android demo. Open this folder in Android Studio (see README.md for versions).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "taste2vec-edge-demo"
include(":taste2vec-core", ":taste2vec-jvm", ":taste2vec-android", ":app")
