"""Grading: the nbgrader course built from modules; submissions and autograding."""
