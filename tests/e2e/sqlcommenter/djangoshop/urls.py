from django.urls import path

from . import views

urlpatterns = [
    path("books/", views.books, name="books"),
    path("books-fixed/", views.books_fixed, name="books_fixed"),
]
