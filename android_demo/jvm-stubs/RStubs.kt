package com.taste2vec.edge.demo

object R {
    object layout { const val activity_main = 1 }
    object id {
        const val notes = 1; const val output = 2; const val acidity = 3; const val sweetness = 4
        const val bitterness = 5; const val body = 6; const val mood = 7; const val embed = 8; const val like = 9
        const val dislike = 10; const val benchmark = 11
    }
}
