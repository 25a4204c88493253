package com.taste2vec.edge.core

import org.junit.Assert.assertEquals
import org.junit.Assert.fail
import org.junit.Test

/** Users land in the same rollout variant on the phone as in the Python SDK and on the server. */
class RolloutParityTest {
    @Test
    fun fiveThousandUsersGetThePythonVariant() {
        val doc = Fixtures.golden("rollout.json")
        assertEquals("taste2vec.golden-rollout/1", doc["format"])
        val cfg = RolloutConfig.fromJson(doc["config"].obj("config"))
        val mm = Mismatches("rollout.json")
        for (a in doc["assignments"].list("assignments").map { it.obj("assignment") }) {
            val user = a["user"] as String
            mm.check(RolloutConfig.userBucket(cfg.experiment, user) == a["bucket"].int("bucket")) { "bucket of $user" }
            mm.check(cfg.assign(user).name == a["variant"]) { "variant of $user: ${cfg.assign(user).name} != ${a["variant"]}" }
        }
        mm.assertNone()
    }

    @Test
    fun badConfigsAreRefused() {
        for (shares in listOf(listOf(60.0, 30.0), listOf(101.0, -1.0), listOf(Double.NaN, 100.0))) {
            try {
                RolloutConfig("e", shares.mapIndexed { i, s -> RolloutVariant("v$i", "m-1.0.$i", s) })
                fail("accepted $shares")
            } catch (e: RolloutException) {
            }
        }
    }
}
