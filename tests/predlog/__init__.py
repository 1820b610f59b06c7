"""Tests of the prediction log (winnow.predlog and its platform side)."""
