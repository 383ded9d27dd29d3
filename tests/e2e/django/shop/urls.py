from django.urls import path

from shop import views

urlpatterns = [
    path("books/", views.books_n_plus_one),
    path("books-clean/", views.books_clean),
]
