"""Reference implementations in the courses' own style (written for derive's tests, not copied):
functions with the courses' signatures, checked by ``gradcheck --impl`` without an adapter."""
