"""Book tooling: the papermill pipeline that executes chapters (:mod:`.pipeline`), the fingerprint
that lets a rebuild re-execute only the chapters that changed (:mod:`.fingerprint`), the student
versions of chapters with exercises (:mod:`.students`), the ``cellnb`` command (:mod:`.cli`) and
the Sphinx extension of the rendered book (:mod:`.extension`).

Nothing in the science layers imports this package; it imports them only to run notebooks.
"""
