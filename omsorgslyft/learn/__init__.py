"""The learn service: Mina utbildningar, module pages in Voilà, the answer store."""
